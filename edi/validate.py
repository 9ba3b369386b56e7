"""Structure and element validation of one EDIFACT message against its directory.

:func:`validate_message` walks the segments of a :class:`~edi.envelope.Message`
through the message's group structure (a state machine over the nested
segment groups) and checks every element against the segment layout, its
format (``an..35``, ``n..15``, ``a3`` ...) and, for the coded elements
Kontor relies on, the code list. It returns every problem as an
:class:`~edi.errors.Issue` with the CONTRL syntax error code (0085):

====  ======================================================================
12    invalid value (not in the code list)
13    missing (mandatory segment, segment group, element or component)
15    not supported in this position (segment unexpected here)
16    too many constituents (elements or components)
19    invalid decimal notation
35    too many repetitions (segment)
36    too many segment group repetitions
37    invalid type of characters (letters in ``n``, digits in ``a``)
38    missing digit in front of decimal sign
39    data element too long
40    data element too short
====  ======================================================================

One cause gives one issue: a run of unexpected segments is reported once, at
its first segment, and the walk goes on from where it was; surplus
repetitions are reported once, at the first one over the limit.
Envelope matters (UNT count and reference, UNB/UNZ) are the reader's.

The named leniencies of :class:`~edi.options.Strictness` turn issues into
warnings: ``unknown-codes`` (12), ``element-formats`` (19, 37-40) and
``unknown-segments`` (15).
"""

from __future__ import annotations

from typing import Any, Sequence

from edi.directory import GroupSpec, MessageSpec, SegmentRef, SegmentSpec, UnknownDirectoryError, load_spec
from edi.envelope import Message
from edi.errors import Issue, Severity, SyntaxCode
from edi.options import STRICT, Strictness

__all__ = ["validate_message", "validate_segments", "compile_spec", "CompiledSpec"]

_AN, _A, _N = 0, 1, 2
_REPS = {"an": _AN, "a": _A, "n": _N}


class _Group:
    """A segment group compiled for the walk.

    ``tags[i]`` is the (trigger) tag of child i, ``maxes[i]`` its maximum,
    ``subs[i]`` the compiled group or None for a segment; ``ahead[i]`` maps a
    tag to the first child index >= i that it starts (``ahead[n]`` is empty).
    """

    __slots__ = ("name", "tags", "maxes", "mandatory", "subs", "ahead", "labels", "last_required")

    def __init__(self, spec: GroupSpec, names: dict[str, str | None]):
        self.name = spec.name
        self.tags: tuple[str, ...] = tuple(
            c.tag if isinstance(c, SegmentRef) else c.trigger for c in spec.children
        )
        self.maxes: tuple[int, ...] = tuple(c.max_repeat for c in spec.children)
        self.mandatory: tuple[bool, ...] = tuple(c.mandatory for c in spec.children)
        self.last_required = max((i for i, m in enumerate(self.mandatory) if m), default=-1)
        self.subs: tuple[_Group | None, ...] = tuple(
            _Group(c, names) if isinstance(c, GroupSpec) else None for c in spec.children
        )
        ahead: list[dict[str, int]] = [{}]
        for index in range(len(self.tags) - 1, -1, -1):
            here = dict(ahead[0])
            here[self.tags[index]] = index
            ahead.insert(0, here)
        self.ahead: tuple[dict[str, int], ...] = tuple(ahead)
        labels = []
        for child, tag in zip(spec.children, self.tags):
            name = names.get(tag)
            named = f"{tag} ({name})" if name else tag
            if isinstance(child, GroupSpec):
                labels.append(f"segment group {child.name[2:]} (starting with {named})")
            else:
                labels.append(f"segment {named}")
        self.labels: tuple[str, ...] = tuple(labels)


# An element: (code, label, mandatory, composite, components); a component:
# (code, label, mandatory, rep, min, max, codes or None, closed, list name)
_Comp = tuple[str, str, bool, int, int, int, Any, bool, str]
_Elem = tuple[str, str, bool, bool, tuple[_Comp, ...]]


class CompiledSpec:
    """A :class:`MessageSpec` turned into lookups for the hot loop (built once per spec)."""

    __slots__ = ("spec", "root", "segments")

    def __init__(self, spec: MessageSpec):
        self.spec = spec
        names = {tag: seg.name for tag, seg in spec.segments.items()}
        self.root = _Group(spec.structure, names)
        self.segments: dict[str, tuple[tuple[_Elem, ...], tuple[int, ...]]] = {}
        for tag, seg in spec.segments.items():
            layout = _compile_segment(seg)
            required = tuple(i for i, element in enumerate(layout) if element[2])
            self.segments[tag] = (layout, required)


def _compile_segment(seg: SegmentSpec) -> tuple[_Elem, ...]:
    out = []
    for element in seg.elements:
        label = f"{element.code} {element.name}" if element.name else element.code
        comps = []
        for comp in element.components:
            clabel = f"{comp.code} {comp.name}" if comp.name and element.composite else comp.code
            codes = comp.code_list
            comps.append((
                comp.code,
                clabel,
                comp.mandatory,
                _REPS[comp.representation],
                comp.min_length,
                comp.max_length,
                codes.values if codes is not None else None,
                codes.closed if codes is not None else False,
                codes.name if codes is not None else "",
            ))
        out.append((element.code, label, element.mandatory, element.composite, tuple(comps)))
    return tuple(out)


_compiled: dict[int, CompiledSpec] = {}


def compile_spec(spec: MessageSpec) -> CompiledSpec:
    """The compiled form of ``spec``, cached for the specs :func:`load_spec` shares."""
    found = _compiled.get(id(spec))
    if found is None or found.spec is not spec:
        found = CompiledSpec(spec)
        if len(_compiled) >= 512:  # specs built by hand, not by load_spec: keep the cache bounded
            _compiled.clear()
        _compiled[id(spec)] = found
    return found


def validate_message(
    message: Message,
    *,
    strictness: Strictness = STRICT,
    spec: MessageSpec | None = None,
    decimal_mark: str = ".",
) -> list[Issue]:
    """Every structure and element problem of ``message``, in segment order (empty when valid).

    ``spec`` defaults to :func:`~edi.directory.load_spec` for the message's
    type, version, release and association; a message whose directory Kontor
    has no data for yields that one issue (code 12 at UNH element 2) instead
    of being checked. ``decimal_mark`` is the interchange's (UNA), ``.`` or
    ``,``; numeric values may use it, with a leading minus sign.
    """
    if spec is None:
        try:
            spec = load_spec(message.type, message.version, message.release, message.association)
        except UnknownDirectoryError as exc:
            return [
                issue.located(
                    segment=message.first_position,
                    message_segment=1,
                    tag="UNH",
                    message_ref=message.reference,
                )
                for issue in exc.issues
            ]
    return validate_segments(
        message.segments,
        compile_spec(spec),
        first_position=message.first_position,
        message_ref=message.reference,
        strictness=strictness,
        decimal_mark=decimal_mark,
    )


def validate_segments(
    segments: Sequence[Any],
    compiled: CompiledSpec,
    *,
    first_position: int = 1,
    message_ref: str | None = None,
    strictness: Strictness = STRICT,
    decimal_mark: str = ".",
) -> list[Issue]:
    """:func:`validate_message` over bare segments (UNH first) with a compiled spec."""
    issues: list[Issue] = []
    lenient_codes = strictness.allows("unknown-codes")
    lenient_formats = strictness.allows("element-formats")
    lenient_segments = strictness.allows("unknown-segments")
    seg_specs = compiled.segments

    def report(index: int, tag: str, code: str, text: str, element: int | None = None,
               component: int | None = None, warning: bool = False) -> None:
        issues.append(Issue(
            text,
            code=code,
            segment=first_position + index,
            tag=tag,
            element=element,
            component=component,
            message_segment=index + 1,
            message_ref=message_ref,
            severity=Severity.WARNING if warning else Severity.ERROR,
        ))

    def missing_between(group: _Group, start: int, stop: int, index: int, tag: str) -> None:
        if start >= stop:
            return
        mandatory = group.mandatory
        for child in range(start, stop):
            if mandatory[child] and group.tags[child] != "UNT":
                report(index, tag, SyntaxCode.MISSING,
                       f"mandatory {group.labels[child]} is missing before this segment")

    def check_element(index: int, tag: str, number: int, spec: _Elem, value: Any) -> None:
        code, label, mandatory, composite, comps = spec
        if composite:
            parts = value if isinstance(value, list) else [value]
            if not any(parts):
                if mandatory:
                    report(index, tag, SyntaxCode.MISSING, f"element {number} ({label}) is mandatory and missing",
                           element=number)
                return
            if len(parts) > len(comps):
                report(index, tag, SyntaxCode.TOO_MANY_CONSTITUENTS,
                       f"element {number} ({label}) has {len(parts)} components, at most {len(comps)} allowed",
                       element=number, component=len(comps) + 1)
            for k, comp in enumerate(comps):
                part = parts[k] if k < len(parts) else ""
                if not part:
                    if comp[2]:
                        report(index, tag, SyntaxCode.MISSING,
                               f"element {number} ({label}), component {k + 1} ({comp[1]}) is mandatory and missing",
                               element=number, component=k + 1)
                    continue
                if comp[3] == _AN and comp[6] is None and comp[4] <= len(part) <= comp[5]:
                    continue
                problem = _check(part, comp, decimal_mark)
                if problem is not None:
                    pcode, ptext, closed = problem
                    warn = (lenient_codes or not closed) if pcode == "12" else lenient_formats
                    report(index, tag, pcode, f"element {number} ({label}), component {k + 1} ({comp[1]}): {ptext}",
                           element=number, component=k + 1, warning=warn)
            return
        if isinstance(value, list):
            if len(value) > 1 and any(value[1:]):
                report(index, tag, SyntaxCode.TOO_MANY_CONSTITUENTS,
                       f"element {number} ({label}) is a simple element but has components",
                       element=number, component=2)
            value = value[0] if value else ""
        if not value:
            if mandatory:
                report(index, tag, SyntaxCode.MISSING, f"element {number} ({label}) is mandatory and missing",
                       element=number)
            return
        problem = _check(value, comps[0], decimal_mark)
        if problem is not None:
            pcode, ptext, closed = problem
            warn = (lenient_codes or not closed) if pcode == "12" else lenient_formats
            report(index, tag, pcode, f"element {number} ({label}): {ptext}", element=number, warning=warn)

    # A frame: [group, position of the current child, its occurrences, position already reported as exceeded]
    stack: list[list[Any]] = [[compiled.root, 0, 0, -1]]
    unexpected_run = False
    last = len(segments) - 1
    for index, segment in enumerate(segments):
        tag = segment.tag
        # ---- structure ------------------------------------------------
        matched = False
        exceeded: list[Any] | None = None
        level = len(stack) - 1
        while level >= 0:
            frame = stack[level]
            group, pos, count = frame[0], frame[1], frame[2]
            target = group.ahead[pos].get(tag)
            if target == pos and count >= group.maxes[pos]:
                if exceeded is None and (pos or not level):  # a group's trigger again: the group repeats
                    exceeded = frame
                target = group.ahead[pos + 1].get(tag)
            if target is None:
                level -= 1
                continue
            # close the deeper frames: what they still lacked is missing
            while len(stack) - 1 > level:
                inner = stack.pop()
                start = inner[1] + 1 if inner[2] else inner[1]
                if start <= inner[0].last_required:
                    missing_between(inner[0], start, len(inner[0].tags), index, tag)
            if target == pos:
                frame[2] = count + 1
            else:
                start = pos + 1 if count else pos
                if start < target:
                    missing_between(group, start, target, index, tag)
                frame[1] = target
                frame[2] = 1
            sub = group.subs[target]
            if sub is not None:
                stack.append([sub, 0, 1, -1])
            matched = True
            break
        if not matched:
            if exceeded is not None:
                group, pos = exceeded[0], exceeded[1]
                exceeded[2] += 1
                if exceeded[3] != pos:
                    exceeded[3] = pos
                    is_group = group.subs[pos] is not None
                    report(index, tag,
                           SyntaxCode.TOO_MANY_SEGMENT_GROUP_REPETITIONS if is_group else SyntaxCode.TOO_MANY_REPETITIONS,
                           f"{group.labels[pos]} occurs more than the {group.maxes[pos]} times allowed")
                # the surplus repetition still gets its elements checked
            elif not unexpected_run:
                unexpected_run = True
                report(index, tag, SyntaxCode.NOT_SUPPORTED_IN_POSITION,
                       f"segment {tag} is not allowed here in {compiled.spec.message_type}"
                       f" {compiled.spec.directory}" + ("" if tag in seg_specs else f" (no {tag} segment in this message)"),
                       warning=lenient_segments)
                continue
            else:
                continue
        unexpected_run = False
        # ---- elements -------------------------------------------------
        compiled_segment = seg_specs.get(tag)
        if compiled_segment is None:
            continue
        layout, required = compiled_segment
        elements = segment.elements
        present = len(elements)
        size = len(layout)
        if present > size:
            report(index, tag, SyntaxCode.TOO_MANY_CONSTITUENTS,
                   f"{present} elements where {tag} has at most {size}", element=size + 1)
            present = size
        for position in range(present):
            value = elements[position]
            spec = layout[position]
            if value.__class__ is str and not spec[3]:  # the common case: a simple element, one value
                if not value:
                    if spec[2]:
                        report(index, tag, SyntaxCode.MISSING,
                               f"element {position + 1} ({spec[1]}) is mandatory and missing", element=position + 1)
                    continue
                comp = spec[4][0]
                if comp[3] == _AN and comp[6] is None and comp[4] <= len(value) <= comp[5]:
                    continue
                problem = _check(value, comp, decimal_mark)
                if problem is not None:
                    pcode, ptext, closed = problem
                    warn = (lenient_codes or not closed) if pcode == "12" else lenient_formats
                    report(index, tag, pcode, f"element {position + 1} ({spec[1]}): {ptext}",
                           element=position + 1, warning=warn)
            elif isinstance(value, tuple):  # a syntax 4 repetition: each occurrence checked alike
                for occurrence in value:
                    check_element(index, tag, position + 1, spec, occurrence)
            else:
                check_element(index, tag, position + 1, spec, value)
        for position in required:
            if position >= present:
                spec = layout[position]
                report(index, tag, SyntaxCode.MISSING, f"element {position + 1} ({spec[1]}) is mandatory and missing",
                       element=position + 1)
    # ---- end of message: whatever is still open lacks its mandatory rest
    if segments:
        end_tag = segments[last].tag
        while stack:
            frame = stack.pop()
            start = frame[1] + 1 if frame[2] else frame[1]
            for child in range(start, len(frame[0].tags)):
                if frame[0].mandatory[child] and frame[0].tags[child] != "UNT":
                    issues.append(Issue(
                        f"mandatory {frame[0].labels[child]} is missing at the end of the message",
                        code=SyntaxCode.MISSING,
                        segment=first_position + last,
                        tag=end_tag,
                        message_segment=last + 1,
                        message_ref=message_ref,
                    ))
    return issues


def _check(value: str, comp: _Comp, decimal_mark: str) -> tuple[str, str, bool] | None:
    """(code, sentence, closed list) for the first problem of one value, or None."""
    _code, _label, _mandatory, rep, low, high, codes, closed, list_name = comp
    size = len(value)
    if rep == _N:
        if not (value.isascii() and value.isdigit()):
            digits = value[1:] if value[0] == "-" else value
            if decimal_mark in digits or (decimal_mark != "." and "." in digits):
                mark = decimal_mark if decimal_mark in digits else "."
                whole, _, frac = digits.partition(mark)
                if not whole:
                    if frac.isascii() and frac.isdigit():
                        return SyntaxCode.MISSING_DIGIT_BEFORE_DECIMAL, f"'{value}' has no digit before the decimal mark", True
                    return SyntaxCode.INVALID_TYPE_OF_CHARACTER, f"'{value}' is not a number", True
                if not frac:
                    if whole.isascii() and whole.isdigit():
                        return SyntaxCode.INVALID_DECIMAL_NOTATION, f"'{value}' ends in a decimal mark", True
                    return SyntaxCode.INVALID_TYPE_OF_CHARACTER, f"'{value}' is not a number", True
                digits = whole + frac
            if not (digits.isascii() and digits.isdigit()):
                return SyntaxCode.INVALID_TYPE_OF_CHARACTER, f"'{value}' is not a number (format n)", True
            size = len(digits)
    elif rep == _A:
        if any(ch.isdigit() for ch in value):
            return SyntaxCode.INVALID_TYPE_OF_CHARACTER, f"'{value}' has digits where the format is alphabetic", True
    if size > high:
        fmt = ("an" if rep == _AN else "a" if rep == _A else "n") + (str(high) if low == high else f"..{high}")
        return SyntaxCode.TOO_LONG, f"'{value}' is too long ({size} characters, format {fmt})", True
    if size < low:
        fmt = ("an" if rep == _AN else "a" if rep == _A else "n") + (str(high) if low == high else f"{low}..{high}")
        return SyntaxCode.TOO_SHORT, f"'{value}' is too short ({size} characters, format {fmt})", True
    if codes is not None and value not in codes:
        if closed:
            return SyntaxCode.INVALID_VALUE, f"'{value}' is not a valid {list_name}", True
        return SyntaxCode.INVALID_VALUE, f"'{value}' is not among the {list_name}s Kontor knows", False
    return None
