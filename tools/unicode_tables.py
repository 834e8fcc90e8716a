"""Write src/tcpchat/unicode_tables.py from the Unicode Character Database.

Python's :mod:`unicodedata` has no emoji properties, no joining types and no
confusables, so the sanitiser and the nickname rules read compact tables made
from Unicode's own files::

    python tools/unicode_tables.py UCD_DIR CONFUSABLES_TXT

``UCD_DIR`` holds ``emoji/emoji-data.txt`` and ``extracted/DerivedJoiningType.txt``
(Debian's ``unicode-data`` package installs them under /usr/share/unicode);
``CONFUSABLES_TXT`` is UTS #39's ``confusables.txt``. Rerun it when either is
updated, or when Python's own Unicode version changes (a test says so), then
``ruff format`` the result. The tests check the tables' shape, a sample of their
content, and that the category classes agree with this Python's unicodedata.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from collections.abc import Iterable, Iterator
from pathlib import Path

OUTPUT = Path(__file__).resolve().parent.parent / "src" / "tcpchat" / "unicode_tables.py"
_VERSION = re.compile(
    r"#\s*(?:Version:|DerivedJoiningType-|Used with Emoji Version)\s*([0-9.]*[0-9])"
)


def _records(path: Path) -> Iterator[list[str]]:
    """The semicolon-separated fields of each data line of a UCD file."""
    for line in path.read_text(encoding="utf-8-sig").splitlines():
        data = line.split("#", 1)[0].strip()
        if data:
            yield [field.strip() for field in data.split(";")]


def _version(path: Path) -> str:
    for line in path.read_text(encoding="utf-8-sig").splitlines()[:12]:
        found = _VERSION.search(line)
        if found:
            return found.group(1)
    return "unknown"


def _code_points(field: str) -> range:
    first, _, last = field.partition("..")
    return range(int(first, 16), int(last or first, 16) + 1)


def _merged(code_points: Iterable[int]) -> list[tuple[int, int]]:
    ranges: list[tuple[int, int]] = []
    for point in sorted(set(code_points)):
        if ranges and ranges[-1][1] == point - 1:
            ranges[-1] = (ranges[-1][0], point)
        else:
            ranges.append((point, point))
    return ranges


def _ranges_literal(name: str, doc: str, ranges: list[tuple[int, int]]) -> str:
    rows = [f"    (0x{first:04X}, 0x{last:04X}),\n" for first, last in ranges]
    return f"#: {doc}\n{name}: tuple[tuple[int, int], ...] = (\n{''.join(rows)})\n"


def _escaped(text: str) -> str:
    return "".join(
        char
        if char.isascii() and (char.isalnum() or char == "-")
        else f"\\x{ord(char):02x}"
        if ord(char) < 0x100
        else f"\\U{ord(char):08x}"
        if ord(char) > 0xFFFF
        else f"\\u{ord(char):04x}"
        for char in text
    )


def _string_literal(text: str, indent: str) -> str:
    """``text`` as one or more adjacent string literals that each fit on a line."""
    pieces, piece = [], ""
    for char in text:
        escaped = _escaped(char)
        if len(piece) + len(escaped) > 84:
            pieces.append(piece)
            piece = ""
        piece += escaped
    pieces.append(piece)
    if len(pieces) == 1:
        return f'"{pieces[0]}"'
    inner = "".join(f'{indent}    "{piece}"\n' for piece in pieces)
    return f"(\n{inner}{indent})"


def _class_literal(name: str, doc: str, categories: frozenset[str]) -> str:
    """The BMP code points of ``categories`` (by this Python's unicodedata), as a regex class.

    Only the BMP: Python's re matches a class that reaches beyond it range by
    range, a hundred times slower than the bitmap it builds for one that does not.
    """
    points = (p for p in range(0x10000) if unicodedata.category(chr(p)) in categories)
    body = "".join(
        chr(first) + (f"-{chr(last)}" if last > first else "") for first, last in _merged(points)
    )
    return f"#: {doc}\n{name} = {_string_literal(body, '')}\n"


def _prototypes(confusables: Path) -> dict[str, str]:
    """Prototype -> the characters that skeleton to it, for prototypes in ASCII.

    Only lookalikes of ASCII letters and digits are kept (Greek, Cyrillic,
    Armenian, Cherokee, Latin variants...), and only characters that can appear
    in a nickname's NFD form: NFKC-stable, NFD-stable, not punctuation or space.
    """
    by_prototype: dict[str, list[str]] = {}
    for fields in _records(confusables):
        source = chr(int(fields[0], 16))
        target = unicodedata.normalize("NFD", "".join(chr(int(c, 16)) for c in fields[1].split()))
        if not (target.isascii() and target.isalnum()):
            continue
        if unicodedata.normalize("NFKC", source) != source:
            continue  # NFKC already folds it (full-width, mathematical, ligatures...)
        if unicodedata.normalize("NFD", source) != source:
            continue  # never seen in NFD text
        if unicodedata.category(source)[0] in "PSZC" and unicodedata.category(source) != "Cn":
            continue  # not allowed in a nickname
        by_prototype.setdefault(target, []).append(source)
    return {target: "".join(sorted(chars)) for target, chars in sorted(by_prototype.items())}


def render(ucd: Path, confusables: Path) -> str:
    emoji_data = ucd / "emoji" / "emoji-data.txt"
    joining = ucd / "extracted" / "DerivedJoiningType.txt"
    pictographic = [
        point
        for fields in _records(emoji_data)
        if fields[1] == "Extended_Pictographic"
        for point in _code_points(fields[0])
    ]
    joining_types: dict[str, list[int]] = {}
    for fields in _records(joining):
        joining_types.setdefault(fields[1], []).extend(_code_points(fields[0]))
    joins_following = [*joining_types["D"], *joining_types["L"]]
    joins_preceding = [*joining_types["D"], *joining_types["R"]]
    prototypes = _prototypes(confusables)
    rows = "".join(
        f"    {_string_literal(target, '    ')}: {_string_literal(chars, '    ')},\n"
        for target, chars in prototypes.items()
    )
    return (
        '"""Unicode data that Python\'s unicodedata lacks, for the sanitiser and nicknames.\n'
        "\n"
        "Generated by tools/unicode_tables.py from emoji-data.txt "
        f"{_version(emoji_data)},\n"
        f"DerivedJoiningType.txt {_version(joining)} and UTS #39 confusables.txt "
        f"{_version(confusables)}.\n"
        f"The general categories are those of Python's unicodedata {unicodedata.unidata_version}.\n"
        "Do not edit by hand: rerun the tool.\n"
        '"""\n'
        "\n"
        "from __future__ import annotations\n"
        "\n"
        + _ranges_literal(
            "EXTENDED_PICTOGRAPHIC",
            "Extended_Pictographic (UTS #51): the emoji and the code points kept for them.",
            _merged(pictographic),
        )
        + "\n"
        + _ranges_literal(
            "JOINS_FOLLOWING",
            "Joining_Type D or L: letters that join to the letter after them (Arabic, Syriac...).",
            _merged(joins_following),
        )
        + "\n"
        + _ranges_literal(
            "JOINS_PRECEDING",
            "Joining_Type D or R: letters that join to the letter before them.",
            _merged(joins_preceding),
        )
        + "\n"
        + _class_literal(
            "DROPPED_BMP_CLASS",
            "Cc, Cf, Zl, Zp, Co, Cs and Cn in the BMP (what the sanitiser drops), as a class.",
            frozenset({"Cc", "Cf", "Zl", "Zp", "Co", "Cs", "Cn"}),
        )
        + "\n"
        + _class_literal(
            "COMBINING_BMP_CLASS",
            "Mn and Me in the BMP (combining marks, variation selectors), as a regex class.",
            frozenset({"Mn", "Me"}),
        )
        + "\n"
        + "#: UTS #39 prototype in ASCII -> the non-ASCII letters, marks and digits that look\n"
        + "#: like it (and the ASCII ones confusables.txt maps, such as 0 and 1).\n"
        + f"CONFUSABLE_PROTOTYPES: dict[str, str] = {{\n{rows}}}\n"
    )


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    OUTPUT.write_text(render(Path(argv[1]), Path(argv[2])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
