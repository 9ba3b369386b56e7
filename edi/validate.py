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
35    too many repetitions (segment; or a data element repeated with the
      syntax 4 repetition separator, none of which may repeat here)
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

Resynchronisation. The walk is greedy: a segment goes to the innermost open
group where it may still come (the current child repeating, or a later
child), else to the enclosing groups, outward. When that costs nothing (no
mandatory segment or group is skipped on the way, no group is closed
without its mandatory part) the walk takes it; this is every segment of a
valid message. When it would report something missing, the segment may as
well be a misplaced one: a line's MOA after its price group (SG28) fits
D96A ORDERS only as the summary MOA after UNS, and taking it there reported
UNS missing and then every following LIN as not allowed. So the walk weighs
the readings of that segment: each open level where it fits (innermost
first), and "not allowed here" (code 15 at that segment, the walk staying
where it was). Each reading is played on over the next :data:`LOOKAHEAD`
segments with the plain greedy walk, and costs one for every segment it
cannot place (each one, not only the first of a run), every mandatory
segment or group it skips and every surplus repetition it reports, plus,
when the message ends within the window, what it would find missing at the
end. The play stops early once all readings are in the same state again.
The cheapest reading is taken; on a tie the earlier one, so the greedy
reading stands unless the segments after it say otherwise: a CNT followed
by UNT, with no UNS before it, is still "UNS missing" at the CNT, while a
misplaced MOA, CNT or DTM gives one code 15 and the lines after it are
walked as usual. This is only done where a segment would skip something
mandatory, never on the way through a valid message.

Speed. :class:`CompiledSpec` turns a spec into tuples once per spec: per
group, for each child position, the children a tag may start ahead of it
and how many mandatory children lie before each position (so "is anything
mandatory skipped" is one subtraction); per component a fast acceptance
test (length only for free text, one set lookup for coded values whose code
list entries all fit the format, digits and length for integers). A value
that passes it is valid; any other goes through :func:`_check`, which finds
and words the problem (or finds none: decimals take that way). Per segment
of the structure, those tests are written out once as one function (an
acceptor, built from the layout when the segment is first met): a segment it
accepts has nothing to report, any other goes through the element loop.

The named leniencies of :class:`~edi.options.Strictness` turn issues into
warnings: ``unknown-codes`` (12), ``element-formats`` (19, 37-40),
``unknown-segments`` (15) and ``long-association-code`` (39 for UNH 0057
only, the S009 association code: EANCOM 1997 subsets are labelled like
``EAN008B``, seven characters where ISO 9735 allows six).
"""

from __future__ import annotations

import re
from typing import Any, Callable, Sequence

from edi.directory import GroupSpec, MessageSpec, SegmentRef, SegmentSpec, UnknownDirectoryError, load_spec
from edi.envelope import Message
from edi.errors import Issue, Severity, SyntaxCode
from edi.options import STRICT, Strictness

__all__ = ["validate_message", "validate_segments", "compile_spec", "CompiledSpec", "LOOKAHEAD"]

#: Segments after an ambiguous one that the resynchronisation plays each reading over.
LOOKAHEAD = 24

_AN, _A, _N = 0, 1, 2
_REPS = {"an": _AN, "a": _A, "n": _N}

# The fast acceptance test of a component (see "Speed" in the module docstring):
# _FREE: an without a code list, a length test; _CODED: membership of the code
# list entries that fit the format; _NUMBER: n, ASCII digits (an optional
# minus sign and decimal mark, see _decimal_fits) and length; _SLOW: always
# _check (a, the rare case).
_FREE, _CODED, _NUMBER, _SLOW = 0, 1, 2, 3

# A decimal number as _check accepts it, by the interchange's decimal mark (with
# a comma as the mark, _check takes a point too): sign, whole digits, fraction.
_DECIMAL = {
    ".": re.compile(r"-?[0-9]+(?:\.([0-9]+))?\Z"),
    ",": re.compile(r"-?[0-9]+(?:[.,]([0-9]+))?\Z"),
}


class _Group:
    """A segment group compiled for the walk.

    ``tags[i]`` is the (trigger) tag of child i, ``maxes[i]`` its maximum,
    ``subs[i]`` the compiled group or None for a segment; ``ahead[i]`` maps a
    tag to the first child index >= i that it starts (``ahead[n]`` is empty).
    ``mand_before[i]`` counts the mandatory children before index i (UNT, the
    reader's business, not counted), so children start..stop-1 hold a
    mandatory one when ``mand_before[stop] - mand_before[start]`` is not 0.
    """

    __slots__ = ("name", "tags", "maxes", "mandatory", "subs", "ahead", "labels", "mand_before")

    def __init__(self, spec: GroupSpec, names: dict[str, str | None]):
        self.name = spec.name
        self.tags: tuple[str, ...] = tuple(
            c.tag if isinstance(c, SegmentRef) else c.trigger for c in spec.children
        )
        self.maxes: tuple[int, ...] = tuple(c.max_repeat for c in spec.children)
        self.mandatory: tuple[bool, ...] = tuple(
            c.mandatory and tag != "UNT" for c, tag in zip(spec.children, self.tags)
        )
        counts = [0]
        for required in self.mandatory:
            counts.append(counts[-1] + required)
        self.mand_before: tuple[int, ...] = tuple(counts)
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


# A component: (code, label, mandatory, rep, min, max, codes or None, closed, list name, test, accepted)
# where test is _FREE/_CODED/_NUMBER/_SLOW and accepted the code list entries that fit the
# format (for _CODED). An element: (code, label, mandatory, composite, components,
# indices of the mandatory components, how many components it needs at least to hold them,
# the fast test of a simple value or None, the fast tests of the components, how many
# components it has). A fast test, what the hot loop unpacks at once: (test, min, max,
# accepted, mandatory) of a component; an element's simple-value test is its first
# component's, None when it needs more than one.
_Comp = tuple[str, str, bool, int, int, int, Any, bool, str, int, Any]
_Fast = tuple[int, int, int, Any, bool]
_Elem = tuple[str, str, bool, bool, tuple[_Comp, ...], tuple[int, ...], int, _Fast | None, tuple[_Fast, ...], int]


#: Data elements known to repeat (syntax version 4 repetition), which the directory data does
#: not record (see edi/directories/SOURCES.md): (segment tag, element position) -> (first batch
#: directory year, most occurrences). C076 communication contact in COM repeats 3 times from the
#: D.01A directories on, as SOURCES.md notes and real D.03B interchanges show
#: (shared/corpus smooks_ORDERS_D03B_EAN008_UNOA4.edi: COM+s11:AA*s21:AA*s31:AA). Every other
#: element may occur once.
_ELEMENT_REPEATS: dict[tuple[str, int], tuple[int, int]] = {("COM", 1): (2001, 3)}


def _directory_year(directory: str) -> int | None:
    """1996 for D96A, 2001 for D01B; None for what is not a batch directory (S3)."""
    if len(directory) == 4 and directory[0] == "D" and directory[1:3].isdigit():
        year = int(directory[1:3])
        return 1900 + year if year >= 90 else 2000 + year
    return None


class CompiledSpec:
    """A :class:`MessageSpec` turned into lookups for the hot loop (built once per spec)."""

    __slots__ = ("spec", "root", "segments", "repeats")

    def __init__(self, spec: MessageSpec):
        self.spec = spec
        names = {tag: seg.name for tag, seg in spec.segments.items()}
        self.root = _Group(spec.structure, names)
        # tag -> (layout, positions of the mandatory elements, how many elements hold them all,
        # how many elements it has, its acceptor or None); acceptors only for the segments
        # the structure has (no other segment gets its elements checked), each built when
        # its segment is first met
        placed = _structure_tags(spec.structure, set())
        self.segments: dict[str, tuple[tuple[_Elem, ...], tuple[int, ...], int, int, _Acceptor | None]] = {}
        for tag, seg in spec.segments.items():
            layout = _compile_segment(seg)
            required = tuple(i for i, element in enumerate(layout) if element[2])
            needed = required[-1] + 1 if required else 0
            accept = self._first_use(tag, layout, required, needed) if tag in placed else None
            self.segments[tag] = (layout, required, needed, len(layout), accept)
        # (tag, element position) -> most occurrences, for the elements that may repeat at all
        year = _directory_year(spec.directory)
        self.repeats: dict[tuple[str, int], int] = {
            key: most for key, (since, most) in _ELEMENT_REPEATS.items() if year is not None and year >= since
        }

    def _first_use(self, tag: str, layout: tuple[_Elem, ...], required: tuple[int, ...], needed: int) -> _Acceptor:
        """An acceptor that builds the segment's own (:func:`_acceptor`) when first called and puts it in its place."""

        def build(elements: Sequence[Any], decimal_rx: re.Pattern[str]) -> bool:
            accept = _acceptor(layout, needed)
            self.segments[tag] = (layout, required, needed, len(layout), accept)
            return accept(elements, decimal_rx)

        return build


def _structure_tags(group: GroupSpec, into: set[str]) -> set[str]:
    for child in group.children:
        if isinstance(child, GroupSpec):
            _structure_tags(child, into)
        else:
            into.add(child.tag)
    return into


#: A segment's acceptor: (elements, decimal pattern) -> True when every element passes its fast
#: test, nothing mandatory is missing and nothing is surplus (see :func:`_acceptor`).
_Acceptor = Callable[[Sequence[Any], "re.Pattern[str]"], bool]


def _acceptor(layout: tuple[_Elem, ...], needed: int) -> _Acceptor:
    """A function that says, for the elements of one segment, that validate_segments would report
    nothing about them: the fast tests of the hot loop, written out for this segment layout.

    True only when every element (each present component of a composite) passes its fast test,
    no mandatory element or component is empty or absent and there are no surplus elements or
    components; on False the general loop checks the elements and words what it finds (which may
    be nothing: a decimal with a comma, a value of format ``a``). Built from the layout (data) as
    Python source once per compiled spec and segment, so the hot path pays one call a segment
    instead of a loop over elements and components.
    """
    names: dict[str, Any] = {"fits": _decimal_fits}
    src = [
        "def accept(e, dx):",
        "    n = len(e)",
        f"    if n > {len(layout)} or n < {needed}:",
        "        return False",
    ]

    def passes(var: str, fast: _Fast | None, pad: str) -> list[str]:
        """Lines that return False unless the non-empty value ``var`` passes ``fast``."""
        if fast is None:
            return [f"{pad}return False"]
        test, low, high, accepted, _ = fast
        if test == _FREE:
            return [f"{pad}if not {low} <= len({var}) <= {high}:", f"{pad}    return False"]
        if test == _CODED:
            name = f"codes{len(names)}"
            names[name] = accepted
            return [f"{pad}if {var} not in {name}:", f"{pad}    return False"]
        if test == _NUMBER:
            return [
                f"{pad}if {var}.isdigit():",
                f"{pad}    if not ({low} <= len({var}) <= {high} and {var}.isascii()):",
                f"{pad}        return False",
                f"{pad}elif not fits({var}, {low}, {high}, dx):",
                f"{pad}    return False",
            ]
        return [f"{pad}return False"]

    for k, spec in enumerate(layout):
        src += [f"    if n <= {k}:", "        return True", f"    v = e[{k}]", "    if v.__class__ is str:", "        if v:"]
        src += passes("v", spec[7], " " * 12)
        if spec[2]:
            src += ["        else:", "            return False"]
        if spec[3]:
            src += ["    elif v.__class__ is list:", "        m = len(v)", f"        if m < {spec[6]} or m > {spec[9]}:",
                    "            return False"]
            for c, fast in enumerate(spec[8]):
                src += [f"        w = v[{c}]" if c < spec[6] else f"        w = v[{c}] if m > {c} else ''", "        if w:"]
                src += passes("w", fast, " " * 12)
                if fast[4]:
                    src += ["        else:", "            return False"]
            if spec[2] and not spec[6]:  # mandatory, with no mandatory component to make it non-empty
                src += ["        if not any(v):", "            return False"]
        src += ["    else:", "        return False"]
    src.append("    return True")
    # only integers (lengths, counts, positions) are written into the source; code lists are names
    exec("\n".join(src), names)  # noqa: S102 - source built above from the directory data, never from input
    accept: _Acceptor = names["accept"]
    return accept


def _compile_segment(seg: SegmentSpec) -> tuple[_Elem, ...]:
    out = []
    for element in seg.elements:
        label = f"{element.code} {element.name}" if element.name else element.code
        comps = []
        for comp in element.components:
            clabel = f"{comp.code} {comp.name}" if comp.name and element.composite else comp.code
            codes = comp.code_list
            rep = _REPS[comp.representation]
            compiled: _Comp = (
                comp.code,
                clabel,
                comp.mandatory,
                rep,
                comp.min_length,
                comp.max_length,
                codes.values if codes is not None else None,
                codes.closed if codes is not None else False,
                codes.name if codes is not None else "",
                _SLOW,
                None,
            )
            if codes is not None:
                # entries that _check passes whatever the decimal mark: membership alone proves them valid
                accepted = frozenset(
                    v for v in codes.values if _check(v, compiled, ".") is None and _check(v, compiled, ",") is None
                )
                compiled = compiled[:9] + (_CODED, accepted)
            elif rep == _AN:
                compiled = compiled[:9] + (_FREE, None)
            elif rep == _N:
                compiled = compiled[:9] + (_NUMBER, None)
            comps.append(compiled)
        mandatory = tuple(k for k, comp in enumerate(comps) if comp[2])
        needed = mandatory[-1] + 1 if mandatory else 0
        fast = tuple((comp[9], comp[4], comp[5], comp[10], comp[2]) for comp in comps)
        out.append((element.code, label, element.mandatory, element.composite, tuple(comps), mandatory, needed,
                    fast[0] if needed <= 1 else None, fast, len(fast)))
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


class _Walk:
    """One message's walk through its group structure (see "Resynchronisation" in the module docstring).

    ``stack`` holds a frame per open group, outermost first: [group, position
    of the current child, its occurrences, position already reported as
    exceeded]. ``run`` is true inside a run of unexpected segments.
    :meth:`step` leaves the structure problems of the segment it moved past
    in ``notes`` as (code, text, warning); a dry walk (a reading played on
    by the lookahead) only counts them in ``cost``.
    """

    __slots__ = ("compiled", "segments", "lenient", "stack", "run", "notes", "cost", "dry", "missing")

    def __init__(self, compiled: CompiledSpec, segments: Sequence[Any], lenient: bool):
        self.compiled = compiled
        self.segments = segments
        self.lenient = lenient
        self.stack: list[list[Any]] = [[compiled.root, 0, 0, -1]]
        self.run = False
        self.notes: list[tuple[str, str, bool]] = []
        self.cost = 0
        self.dry = False
        self.missing: set[str] = set()  # tags of the mandatory segments (group triggers) reported missing

    def _note(self, code: str, text: str, warning: bool = False) -> None:
        if self.dry:
            self.cost += 1
        else:
            self.notes.append((code, text, warning))

    def step(self, index: int, tag: str) -> bool:
        """Move past segment ``index``; True when its elements are to be checked (it fits, or repeats too often)."""
        stack = self.stack
        top = level = len(stack) - 1
        exceeded = None
        while level >= 0:
            # the same test as _fits, inline: this loop runs for every segment
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
            # The way of every segment of a valid message, kept free of calls: the segment
            # repeats the current child or skips only optional ones, at the innermost level
            # (or closes inner groups that lack nothing). Anything else goes to _settle.
            if level == top:
                if target == pos:
                    frame[2] = count + 1
                else:
                    before = group.mand_before
                    if before[target] != before[pos + 1 if count else pos]:
                        return self._settle(index, tag, level, target)
                    frame[1] = target
                    frame[2] = 1
            else:
                if self._skips(level, target):
                    return self._settle(index, tag, level, target)
                del stack[level + 1:]
                if target == pos:
                    frame[2] = count + 1
                else:
                    frame[1] = target
                    frame[2] = 1
            sub = group.subs[target]
            if sub is not None:
                stack.append([sub, 0, 1, -1])
            self.run = False
            return True
        if exceeded is not None:
            self._surplus(exceeded)
            self.run = False
            return True  # the surplus repetition still gets its elements checked
        self._unexpected(tag)
        return False

    def _settle(self, index: int, tag: str, level: int, target: int) -> bool:
        """:meth:`step` for a segment that fits only by skipping something mandatory: resynchronise."""
        if not self.dry:  # a reading played on by the lookahead stays greedy
            choice = self._resync(index, tag, level, target)
            if choice is None:
                self._unexpected(tag)
                return False
            level, target = choice
        self._enter(level, target)
        self.run = False
        return True

    def finish(self) -> None:
        """The end of the message: whatever is still open lacks its mandatory rest."""
        while self.stack:
            frame = self.stack.pop()
            group = frame[0]
            start = frame[1] + 1 if frame[2] else frame[1]
            for child in range(start, len(group.tags)):
                if group.mandatory[child]:
                    self._note(SyntaxCode.MISSING, f"mandatory {group.labels[child]} is missing at the end of the message")
                    if not self.dry:
                        self.missing.add(group.tags[child])

    # -- moving

    def _fits(self, level: int, tag: str) -> int | None:
        """The child of the group open at ``level`` that ``tag`` would be (None: none ahead there)."""
        group, pos, count = self.stack[level][:3]
        target = group.ahead[pos].get(tag)
        if target == pos and count >= group.maxes[pos]:
            target = group.ahead[pos + 1].get(tag)
        return target

    def _skips(self, level: int, target: int) -> int:
        """How many mandatory children going to child ``target`` at ``level`` would report missing."""
        stack = self.stack
        skipped = 0
        for deeper in range(level + 1, len(stack)):
            frame = stack[deeper]
            before = frame[0].mand_before
            skipped += before[-1] - before[frame[1] + 1 if frame[2] else frame[1]]
        frame = stack[level]
        pos = frame[1]
        if target != pos:
            before = frame[0].mand_before
            skipped += before[target] - before[pos + 1 if frame[2] else pos]
        return skipped

    def _enter(self, level: int, target: int) -> None:
        """Close the groups deeper than ``level`` and go to its child ``target``, reporting what is skipped."""
        stack = self.stack
        while len(stack) - 1 > level:
            inner = stack.pop()
            start = inner[1] + 1 if inner[2] else inner[1]
            self._missing(inner[0], start, len(inner[0].tags))
        frame = stack[level]
        group, pos, count = frame[0], frame[1], frame[2]
        if target == pos:
            frame[2] = count + 1
        else:
            self._missing(group, pos + 1 if count else pos, target)
            frame[1] = target
            frame[2] = 1
        sub = group.subs[target]
        if sub is not None:
            stack.append([sub, 0, 1, -1])

    def _missing(self, group: _Group, start: int, stop: int) -> None:
        if start < stop and group.mand_before[stop] != group.mand_before[start]:
            for child in range(start, stop):
                if group.mandatory[child]:
                    self._note(SyntaxCode.MISSING, f"mandatory {group.labels[child]} is missing before this segment")
                    if not self.dry:
                        self.missing.add(group.tags[child])

    def _surplus(self, frame: list[Any]) -> None:
        group, pos = frame[0], frame[1]
        frame[2] += 1
        if frame[3] != pos:
            frame[3] = pos
            is_group = group.subs[pos] is not None
            self._note(
                SyntaxCode.TOO_MANY_SEGMENT_GROUP_REPETITIONS if is_group else SyntaxCode.TOO_MANY_REPETITIONS,
                f"{group.labels[pos]} occurs more than the {group.maxes[pos]} times allowed",
            )

    def _unexpected(self, tag: str) -> None:
        if self.dry:  # every segment a reading cannot place counts against it, not only a run's first
            self.cost += 1
            self.run = True
            return
        if self.run:
            return
        self.run = True
        spec = self.compiled.spec
        if tag in spec.unused:  # a segment the subset (EANCOM) leaves out everywhere
            text = f"segment {tag} is not used in {spec.subset_name}"
        else:
            absent = "" if tag in self.compiled.segments else f" (no {tag} segment in this message)"
            text = f"segment {tag} is not allowed here in {spec.message_type} {spec.directory}{absent}"
        self._note(SyntaxCode.NOT_SUPPORTED_IN_POSITION, text, self.lenient)

    # -- resynchronisation

    def _fork(self) -> _Walk:
        twin = _Walk(self.compiled, self.segments, self.lenient)
        twin.stack = [frame[:] for frame in self.stack]
        twin.run = self.run
        twin.dry = True
        return twin

    def _resync(self, index: int, tag: str, level: int, target: int) -> tuple[int, int] | None:
        """The reading of segment ``index`` to take: (level, child), or None for "not allowed here"."""
        readings: list[tuple[int, int] | None] = [(level, target)]
        for outer in range(level - 1, -1, -1):
            child = self._fits(outer, tag)
            if child is not None:
                readings.append((outer, child))
        readings.append(None)
        twins = []
        for reading in readings:
            twin = self._fork()
            if reading is None:
                twin._unexpected(tag)
            else:
                twin._enter(*reading)
                twin.run = False
            twins.append(twin)
        segments = self.segments
        end = min(len(segments), index + 1 + LOOKAHEAD)
        for later in range(index + 1, end):
            later_tag = segments[later].tag
            for twin in twins:
                twin.step(later, later_tag)
            first = twins[0]
            if all(twin.stack == first.stack and twin.run == first.run for twin in twins[1:]):
                break  # the same state from here on: the same problems to come
        else:
            if end == len(segments):
                for twin in twins:
                    twin.finish()
        best = min(range(len(twins)), key=lambda k: twins[k].cost)  # the first of the cheapest
        return readings[best]


def validate_message(
    message: Message,
    *,
    strictness: Strictness = STRICT,
    spec: MessageSpec | None = None,
    decimal_mark: str = ".",
    missing_tags: set[str] | None = None,
) -> list[Issue]:
    """Every structure and element problem of ``message``, in segment order (empty when valid).

    ``spec`` defaults to :func:`~edi.directory.load_spec` for the message's
    type, version, release and association; a message whose directory Kontor
    has no data for yields that one issue (code 12 at UNH element 2) instead
    of being checked; one whose association code (UNH 0057) names no subset
    Kontor has data for is checked as the plain UN message, with a warning
    (code 17) at UNH element 2.5 saying so. ``decimal_mark`` is the interchange's (UNA), ``.`` or
    ``,``; numeric values may use it, with a leading minus sign.

    ``missing_tags``, when given, receives the tag of every mandatory
    segment reported missing (for a segment group, its trigger segment's
    tag), so that a mapping can leave the consequences of that absence
    unreported (one error per cause).
    """
    notes: list[Issue] = []
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
        if message.association and spec.association is None:
            # a partner's own code, or an EANCOM one for another message or directory: say which rules applied
            notes.append(Issue(
                f"association {_shown(message.association)} is not known for {message.type} {spec.directory};"
                " validated as the plain UN message",
                code=SyntaxCode.NO_AGREEMENT,
                segment=message.first_position,
                tag="UNH",
                element=2,
                component=5,
                message_segment=1,
                message_ref=message.reference,
                severity=Severity.WARNING,
            ))
    return notes + validate_segments(
        message.segments,
        compile_spec(spec),
        first_position=message.first_position,
        message_ref=message.reference,
        strictness=strictness,
        decimal_mark=decimal_mark,
        missing_tags=missing_tags,
    )


def validate_segments(
    segments: Sequence[Any],
    compiled: CompiledSpec,
    *,
    first_position: int = 1,
    message_ref: str | None = None,
    strictness: Strictness = STRICT,
    decimal_mark: str = ".",
    missing_tags: set[str] | None = None,
) -> list[Issue]:
    """:func:`validate_message` over bare segments (UNH first) with a compiled spec."""
    issues: list[Issue] = []
    lenient_codes = strictness.allows("unknown-codes")
    lenient_formats = strictness.allows("element-formats")
    lenient_association = strictness.allows("long-association-code")
    seg_specs = compiled.segments
    repeats = compiled.repeats

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

    def report_value(index: int, tag: str, value: str, comp: _Comp, where: str, element: int,
                     component: int | None) -> None:
        """Report the problem of a present value, if it has one."""
        problem = _check(value, comp, decimal_mark)
        if problem is not None:
            pcode, ptext, closed = problem
            warn = (lenient_codes or not closed) if pcode == "12" else lenient_formats
            if pcode == SyntaxCode.TOO_LONG and lenient_association and (tag, element, component) == ("UNH", 2, 5):
                warn = True
                ptext += " (accepted under leniency long-association-code)"
            report(index, tag, pcode, f"{where}: {ptext}", element=element, component=component, warning=warn)

    def check_element(index: int, tag: str, number: int, spec: _Elem, value: Any) -> None:
        """Check one element (one occurrence of a repeated one) the general way, reporting every problem."""
        label, mandatory, composite, comps, mandatory_comps = spec[1:6]
        if composite:
            parts = value if isinstance(value, list) else [value]
            if not any(parts):
                if mandatory:
                    report(index, tag, SyntaxCode.MISSING, f"element {number} ({label}) is mandatory and missing",
                           element=number)
                return
            present = len(parts)
            if present > len(comps):
                report(index, tag, SyntaxCode.TOO_MANY_CONSTITUENTS,
                       f"element {number} ({label}) has {present} components, at most {len(comps)} allowed",
                       element=number, component=len(comps) + 1)
            for k, (part, comp) in enumerate(zip(parts, comps)):
                if not part:
                    if comp[2]:
                        report(index, tag, SyntaxCode.MISSING,
                               f"element {number} ({label}), component {k + 1} ({comp[1]}) is mandatory and missing",
                               element=number, component=k + 1)
                    continue
                report_value(index, tag, part, comp, f"element {number} ({label}), component {k + 1} ({comp[1]})",
                             number, k + 1)
            for k in mandatory_comps:  # the absent trailing components
                if k >= present:
                    report(index, tag, SyntaxCode.MISSING,
                           f"element {number} ({label}), component {k + 1} ({comps[k][1]}) is mandatory and missing",
                           element=number, component=k + 1)
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
        report_value(index, tag, value, comps[0], f"element {number} ({label})", number, None)

    decimal_rx = _DECIMAL.get(decimal_mark, _DECIMAL["."])
    walk = _Walk(compiled, segments, strictness.allows("unknown-segments"))
    step = walk.step
    notes = walk.notes
    stack = walk.stack
    for index, segment in enumerate(segments):
        tag = segment.tag
        # ---- structure ------------------------------------------------
        # The innermost group's next child (or its current one again, within its maximum),
        # skipping nothing mandatory: what walk.step does first, without the call. Anything
        # else (an outer group, a surplus, a skip, a misfit) is walk.step's.
        frame = stack[-1]
        group, pos, count = frame[0], frame[1], frame[2]
        target = group.ahead[pos].get(tag)
        if target is not None and (
            count < group.maxes[pos]
            if target == pos
            else group.mand_before[target] == group.mand_before[pos + 1 if count else pos]
        ):
            if target == pos:
                frame[2] = count + 1
            else:
                frame[1] = target
                frame[2] = 1
            sub = group.subs[target]
            if sub is not None:
                stack.append([sub, 0, 1, -1])
            walk.run = False
            check = True
        else:
            check = step(index, tag)
        if notes:
            for code, text, warning in notes:
                report(index, tag, code, text, warning=warning)
            notes.clear()
        if not check:
            continue
        # ---- elements -------------------------------------------------
        compiled_segment = seg_specs.get(tag)
        if compiled_segment is None:
            continue
        layout, required, needed, most, accept = compiled_segment
        elements = segment.elements
        if accept is not None and accept(elements, decimal_rx):
            continue  # nothing to report (see _acceptor); the loop below finds and words any problem
        present = len(elements)
        if present > most:
            report(index, tag, SyntaxCode.TOO_MANY_CONSTITUENTS,
                   f"{present} elements where {tag} has at most {most}", element=most + 1)
            present = most
        number = 0
        for spec, value in zip(layout, elements):  # stops at the shorter: surplus elements were reported
            number += 1
            # Fast paths: a value (or every component of a composite) that passes its
            # component's acceptance test is valid; at the first doubt the element goes
            # the general way (check_element, report_value), which finds and words the problem.
            if value.__class__ is str:  # a simple element, or a composite's first component alone
                if not value:
                    if spec[2]:
                        report(index, tag, SyntaxCode.MISSING,
                               f"element {number} ({spec[1]}) is mandatory and missing", element=number)
                    continue
                fast = spec[7]
                if fast is not None:
                    test, low, high, accepted, _ = fast
                    if test == _FREE:
                        if low <= len(value) <= high:
                            continue
                    elif test == _CODED:
                        if value in accepted:
                            continue
                    elif test == _NUMBER:
                        if value.isdigit():
                            if low <= len(value) <= high and value.isascii():
                                continue
                        elif _decimal_fits(value, low, high, decimal_rx):
                            continue
                if spec[3]:
                    check_element(index, tag, number, spec, value)
                else:
                    report_value(index, tag, value, spec[4][0], f"element {number} ({spec[1]})", number, None)
            elif value.__class__ is list and spec[3]:
                if spec[6] <= len(value) <= spec[9]:
                    for part, (test, low, high, accepted, required_part) in zip(value, spec[8]):
                        if not part:
                            if required_part:
                                break
                            continue
                        if test == _CODED:  # the most frequent test in composites (qualifiers)
                            if part in accepted:
                                continue
                        elif test == _FREE:
                            if low <= len(part) <= high:
                                continue
                        elif test == _NUMBER:
                            if part.isdigit():
                                if low <= len(part) <= high and part.isascii():
                                    continue
                            elif _decimal_fits(part, low, high, decimal_rx):
                                continue
                        break
                    else:
                        if not spec[2] or any(value):
                            continue
                check_element(index, tag, number, spec, value)
            elif isinstance(value, tuple):  # a syntax 4 repetition (edi.syntax.Repetition)
                # The directory data records no element repeat counts (see SOURCES.md): an
                # element not in _ELEMENT_REPEATS may occur once. Occurrences over the limit are
                # one error (UN/EDIFACT 0085 code 35, too many repetitions) at the element; the
                # occurrences within it are checked as usual.
                most = repeats.get((tag, number), 1)
                if len(value) > most:
                    limit = "it may occur once" if most == 1 else f"at most {most} occurrences allowed"
                    report(index, tag, SyntaxCode.TOO_MANY_REPETITIONS,
                           f"element {number} ({spec[1]}) occurs {len(value)} times (repetition separator);"
                           f" {limit}", element=number)
                for occurrence in value[:most]:
                    check_element(index, tag, number, spec, occurrence)
            else:
                check_element(index, tag, number, spec, value)
        if present < needed:
            for position in required:
                if position >= present:
                    spec = layout[position]
                    report(index, tag, SyntaxCode.MISSING,
                           f"element {position + 1} ({spec[1]}) is mandatory and missing", element=position + 1)
    if segments:
        last = len(segments) - 1
        walk.finish()
        for code, text, warning in notes:
            report(last, segments[last].tag, code, text, warning=warning)
    if missing_tags is not None:
        missing_tags.update(walk.missing)
    return issues


def _decimal_fits(value: str, low: int, high: int, pattern: re.Pattern[str]) -> bool:
    """True when ``value`` is a number of ``low`` to ``high`` digits as _check counts them (no sign, no mark)."""
    match = pattern.match(value)
    if match is None:
        return False
    digits = len(value) - (value[0] == "-") - (match.lastindex is not None)
    return low <= digits <= high


def _shown(value: str, limit: int = 35) -> str:
    """``value`` in quotes for a message; past ``limit`` characters its start, '...' and its length,
    so that a 200 KB element does not make a 200 KB error line."""
    if len(value) <= limit:
        return f"'{value}'"
    return f"'{value[:limit]}'... ({len(value)} characters)"


def _check(value: str, comp: _Comp, decimal_mark: str) -> tuple[str, str, bool] | None:
    """(code, sentence, closed list) for the first problem of one value, or None."""
    rep, low, high, codes, closed, list_name = comp[3:9]
    size = len(value)
    if rep == _N:
        if not (value.isascii() and value.isdigit()):
            digits = value[1:] if value[0] == "-" else value
            if decimal_mark in digits or (decimal_mark != "." and "." in digits):
                mark = decimal_mark if decimal_mark in digits else "."
                whole, _, frac = digits.partition(mark)
                if not whole:
                    if frac.isascii() and frac.isdigit():
                        return SyntaxCode.MISSING_DIGIT_BEFORE_DECIMAL, f"{_shown(value)} has no digit before the decimal mark", True
                    return SyntaxCode.INVALID_TYPE_OF_CHARACTER, f"{_shown(value)} is not a number", True
                if not frac:
                    if whole.isascii() and whole.isdigit():
                        return SyntaxCode.INVALID_DECIMAL_NOTATION, f"{_shown(value)} ends in a decimal mark", True
                    return SyntaxCode.INVALID_TYPE_OF_CHARACTER, f"{_shown(value)} is not a number", True
                digits = whole + frac
            if not (digits.isascii() and digits.isdigit()):
                return SyntaxCode.INVALID_TYPE_OF_CHARACTER, f"{_shown(value)} is not a number (format n)", True
            size = len(digits)
    elif rep == _A:
        if any(ch.isdigit() for ch in value):
            return SyntaxCode.INVALID_TYPE_OF_CHARACTER, f"{_shown(value)} has digits where the format is alphabetic", True
    if size > high:
        fmt = ("an" if rep == _AN else "a" if rep == _A else "n") + (str(high) if low == high else f"..{high}")
        return SyntaxCode.TOO_LONG, f"{_shown(value)} is too long ({size} characters, format {fmt})", True
    if size < low:
        fmt = ("an" if rep == _AN else "a" if rep == _A else "n") + (str(high) if low == high else f"{low}..{high}")
        return SyntaxCode.TOO_SHORT, f"{_shown(value)} is too short ({size} characters, format {fmt})", True
    if codes is not None and value not in codes:
        if closed:
            return SyntaxCode.INVALID_VALUE, f"{_shown(value)} is not a valid {list_name}", True
        return SyntaxCode.INVALID_VALUE, f"{_shown(value)} is not among the {list_name}s Kontor knows", False
    return None
