"""Readers for knowledge-graph files: triples, entity texts, relation texts and data-set folders.

Every reader validates line by line and returns the records together with the problems it found,
each as ``file:line: what is wrong``, so a caller can reject the whole file or skip the bad lines.
Files are read as strict UTF-8. TSV lines are split on tabs only, because texts (WN18RR's
definitions, for example) contain commas, quotes and semicolons.

Data-set folder layout (as in the UMLS, WN18RR and CoDEx-S benchmark copies):

- ``train.tsv``, ``dev.tsv`` or ``valid.tsv``, ``test.tsv``: ``head<TAB>relation<TAB>tail``.
  ``dev`` is stored as the split ``valid``.
- ``*negatives*.tsv`` (``valid_negatives.tsv``, ``test_negatives.tsv``): false triples for
  evaluation. They are never loaded as edges; :func:`read_negative_triples` reads them.
- ``entity2text.tsv``: ``id<TAB>name``; ``entity2textlong.tsv``: ``id<TAB>description``.
- ``relation2text.tsv``: ``relation<TAB>name``.
- CoDEx: ``entity2types.tsv`` (``entity<TAB>type,type,...``) with ``types.en.tsv``
  (``type<TAB>label<TAB>description``) give each entity the name ``"label; label"``, and
  ``relations.en.json`` (``{relation: {label, description}}``) gives relation names and descriptions.
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Mapping, NamedTuple, Sequence

from graph_loader.schema import DEFAULT_SPLIT

TRIPLE_COLUMNS = ("head", "relation", "tail")
SPLIT_FILE_STEMS = {"train": "train", "dev": "valid", "valid": "valid", "test": "test"}
TRIPLE_FILE_SUFFIXES = (".tsv", ".txt", ".csv")
# Problems listed in an exception message; the full list stays on the exception.
MAX_PROBLEMS_IN_MESSAGE = 20


class Triple(NamedTuple):
    """A (head, relation, tail) fact; a tuple, so sets and sorting of many triples stay fast."""

    head: str
    relation: str
    tail: str


@dataclass(frozen=True)
class EntityText:
    name: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class RelationText:
    name: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class LineProblem:
    """One rejected line: where it is, what is wrong with it, and its text (as far as decodable)."""

    path: Path
    line: int
    message: str
    text: str = ""

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


class InvalidInputError(ValueError):
    """Input files contain malformed lines; ``problems`` lists every one of them."""

    def __init__(self, problems: Sequence[LineProblem]):
        self.problems = list(problems)
        shown = "\n".join(str(problem) for problem in self.problems[:MAX_PROBLEMS_IN_MESSAGE])
        hidden = len(self.problems) - MAX_PROBLEMS_IN_MESSAGE
        more = f"\n... and {hidden} more invalid lines" if hidden > 0 else ""
        super().__init__(
            f"{len(self.problems)} invalid lines, nothing of these files was written:\n{shown}{more}\n"
            "fix the lines, or skip them with --skip-invalid (skip_invalid=True)"
        )


@dataclass
class ParsedFile:
    """Records read from one file, the line number of each, and the rejected lines."""

    path: Path
    records: list = field(default_factory=list)
    line_numbers: list[int] = field(default_factory=list)
    problems: list[LineProblem] = field(default_factory=list)


def _decoded_lines(path: Path) -> Iterator[tuple[int, str | None, str]]:
    """Yield (line number, decoded text or None, error) for every line that is not blank."""
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            raw = raw.rstrip(b"\n").rstrip(b"\r")
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                yield number, None, f"invalid UTF-8 at byte {error.start + 1} of the line; the file must be UTF-8"
                continue
            if text.strip():
                yield number, text, ""


def _tab_fields(path: Path, min_columns: int, max_columns: int, column_names: str) -> Iterator[tuple[int, list[str] | None, LineProblem | None]]:
    for number, text, error in _decoded_lines(path):
        if text is None:
            yield number, None, LineProblem(path, number, error)
            continue
        fields = text.split("\t")
        if not min_columns <= len(fields) <= max_columns:
            expected = str(min_columns) if min_columns == max_columns else f"{min_columns} to {max_columns}"
            message = f"expected {expected} tab-separated columns ({column_names}), found {len(fields)}"
            yield number, None, LineProblem(path, number, message, text)
            continue
        yield number, [value.strip() for value in fields], None


def _triple_or_problem(path: Path, number: int, values: Sequence[str], text: str) -> Triple | LineProblem:
    for name, value in zip(TRIPLE_COLUMNS, values):
        if not value:
            return LineProblem(path, number, f"empty {name}", text)
    return Triple(*values)


def parse_columns(spec: str) -> dict[str, str]:
    """Parse a column mapping such as ``head=subject,relation=predicate,tail=object``."""
    mapping = {}
    for part in spec.split(","):
        key, sep, column = part.partition("=")
        key, column = key.strip(), column.strip()
        if not sep or key not in TRIPLE_COLUMNS or not column:
            raise ValueError(
                f"invalid column mapping {part!r} in {spec!r}; expected head=COLUMN,relation=COLUMN,tail=COLUMN"
            )
        mapping[key] = column
    missing = [key for key in TRIPLE_COLUMNS if key not in mapping]
    if missing:
        raise ValueError(f"column mapping {spec!r} is missing {', '.join(missing)}")
    return mapping


def read_triples(
    path: str | Path,
    delimiter: str | None = None,
    columns: Mapping[str, str] | None = None,
) -> ParsedFile:
    """Read a triple file: TSV without a header, or a delimited file with a header row.

    Args:
        path: the file.
        delimiter: ``"\\t"`` or ``","``; ``None`` picks ``","`` for ``.csv`` files and tabs otherwise.
        columns: header names of the head, relation and tail columns
            (``{"head": "subject", ...}``). A file with a mapping must start with a header row.
            So must every CSV file, and without a mapping its header names head, relation, tail.
    """
    path = Path(path)
    if delimiter is None:
        delimiter = "," if path.suffix.lower() == ".csv" else "\t"
    if delimiter == "\t" and columns is None:
        parsed = ParsedFile(path)
        for number, values, problem in _tab_fields(path, 3, 3, "head, relation, tail"):
            result = problem or _triple_or_problem(path, number, values, "\t".join(values))
            _add(parsed, number, result)
        return parsed
    return _read_triples_with_header(path, delimiter, columns or {key: key for key in TRIPLE_COLUMNS})


def _read_triples_with_header(path: Path, delimiter: str, columns: Mapping[str, str]) -> ParsedFile:
    parsed = ParsedFile(path)
    # Lines that are not UTF-8 become empty rows, so the csv module's line numbers stay right.
    texts: list[str] = []
    for number, text, error in _decoded_lines_all(path):
        if text is None:
            parsed.problems.append(LineProblem(path, number, error))
            texts.append("")
        else:
            texts.append(text)
    reader = csv.reader(texts, delimiter=delimiter, strict=True)
    header: list[str] | None = None
    indexes: dict[str, int] = {}
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            parsed.problems.append(LineProblem(path, reader.line_num, f"malformed {delimiter!r}-delimited line: {error}"))
            continue
        number = reader.line_num
        if not row or not any(value.strip() for value in row):
            continue
        if header is None:
            header = [value.strip() for value in row]
            missing = [f"{key}={column}" for key, column in columns.items() if column not in header]
            if missing:
                parsed.problems.append(LineProblem(
                    path, number, f"header {header} has no column for {', '.join(missing)}; "
                    "name the columns with --columns head=COLUMN,relation=COLUMN,tail=COLUMN",
                    texts[number - 1],
                ))
                return parsed
            indexes = {key: header.index(column) for key, column in columns.items()}
            continue
        if len(row) != len(header):
            message = f"expected {len(header)} columns as in the header, found {len(row)}"
            parsed.problems.append(LineProblem(path, number, message, texts[number - 1]))
            continue
        values = [row[indexes[key]].strip() for key in TRIPLE_COLUMNS]
        _add(parsed, number, _triple_or_problem(path, number, values, texts[number - 1]))
    if header is None:
        parsed.problems.append(LineProblem(path, 1, "missing header row (the file is empty)"))
    return parsed


def _decoded_lines_all(path: Path) -> Iterator[tuple[int, str | None, str]]:
    """Like :func:`_decoded_lines` but also yields blank lines, keeping line numbers aligned."""
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            raw = raw.rstrip(b"\n").rstrip(b"\r")
            try:
                yield number, raw.decode("utf-8"), ""
            except UnicodeDecodeError as error:
                yield number, None, f"invalid UTF-8 at byte {error.start + 1} of the line; the file must be UTF-8"


def _add(parsed: ParsedFile, number: int, result) -> None:
    if isinstance(result, LineProblem):
        parsed.problems.append(result)
    else:
        parsed.records.append(result)
        parsed.line_numbers.append(number)


def read_negative_triples(path: str | Path) -> list[Triple]:
    """Read a file of false triples (``*negatives*.tsv``); raise InvalidInputError on a bad line."""
    parsed = read_triples(path)
    if parsed.problems:
        raise InvalidInputError(parsed.problems)
    return parsed.records


def read_text_table(path: str | Path, max_columns: int = 2, column_names: str = "id, text") -> ParsedFile:
    """Read ``id<TAB>text[<TAB>text...]`` lines; records are lists of stripped fields."""
    path = Path(path)
    parsed = ParsedFile(path)
    for number, values, problem in _tab_fields(path, 2, max_columns, column_names):
        if problem is None and not values[0]:
            problem = LineProblem(path, number, "empty id", "\t".join(values))
        _add(parsed, number, problem or values)
    return parsed


def read_entity_file(path: str | Path) -> tuple[dict[str, EntityText], list[LineProblem]]:
    """Read ``id<TAB>name[<TAB>description]`` lines into entity texts."""
    parsed = read_text_table(path, max_columns=3, column_names="id, name, description")
    entities = {}
    for values in parsed.records:
        description = values[2] if len(values) > 2 else ""
        entities[values[0]] = EntityText(values[1] or None, description or None)
    return entities, parsed.problems


def read_relation_file(path: str | Path) -> tuple[dict[str, RelationText], list[LineProblem]]:
    """Read ``relation<TAB>name[<TAB>description]`` lines into relation texts."""
    parsed = read_text_table(path, max_columns=3, column_names="relation, name, description")
    relations = {}
    for values in parsed.records:
        description = values[2] if len(values) > 2 else ""
        relations[values[0]] = RelationText(values[1] or None, description or None)
    return relations, parsed.problems


@dataclass
class Dataset:
    """A data-set folder read into memory.

    ``triples`` maps a split (``train``, ``valid``, ``test``) to its valid triples and
    ``triple_files`` to the file they came from. ``problems`` lists every rejected line of every file.
    """

    name: str
    folder: Path
    triples: dict[str, list[Triple]] = field(default_factory=dict)
    triple_files: dict[str, Path] = field(default_factory=dict)
    entities: dict[str, EntityText] = field(default_factory=dict)
    relations: dict[str, RelationText] = field(default_factory=dict)
    negative_files: dict[str, Path] = field(default_factory=dict)
    problems: list[LineProblem] = field(default_factory=list)

    def negatives(self, split: str) -> list[Triple]:
        """Read the false triples of a split (``valid`` or ``test``)."""
        if split not in self.negative_files:
            raise KeyError(f"data set {self.name} has no negatives for split {split!r}; it has {sorted(self.negative_files)}")
        return read_negative_triples(self.negative_files[split])


def find_split_files(folder: Path) -> tuple[dict[str, Path], dict[str, Path]]:
    """Find the triple files of each split and the negative-triple files in a data-set folder."""
    splits: dict[str, Path] = {}
    negatives: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if not path.is_file() or path.suffix.lower() not in TRIPLE_FILE_SUFFIXES:
            continue
        stem = path.stem.lower()
        if "negatives" in stem:
            prefix = stem.replace("negatives", "").strip("_-. ")
            negatives[SPLIT_FILE_STEMS.get(prefix, prefix or DEFAULT_SPLIT)] = path
        elif stem in SPLIT_FILE_STEMS:
            split = SPLIT_FILE_STEMS[stem]
            if split in splits:
                raise ValueError(f"{folder} has two files for split {split!r}: {splits[split].name} and {path.name}")
            splits[split] = path
    return splits, negatives


def read_dataset(folder: str | Path, name: str | None = None, splits: Sequence[str] | None = None) -> Dataset:
    """Read a data-set folder (layout in the module docstring), validating every line.

    Args:
        folder: the data-set folder.
        name: stored on every edge as ``dataset``; defaults to the folder name.
        splits: splits to read (``train``, ``valid``, ``test``); ``None`` reads all found.

    Raises:
        FileNotFoundError: the folder does not exist or contains no triple file.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"data-set folder {folder} does not exist")
    split_files, negative_files = find_split_files(folder)
    if splits is not None:
        unknown = [split for split in splits if split not in split_files]
        if unknown:
            raise FileNotFoundError(f"{folder} has no triple file for split(s) {unknown}; it has {sorted(split_files)}")
        split_files = {split: split_files[split] for split in splits}
    if not split_files:
        raise FileNotFoundError(f"{folder} contains no train.tsv, dev.tsv, valid.tsv or test.tsv")

    dataset = Dataset(name or folder.name, folder, negative_files=negative_files)
    for split, path in split_files.items():
        parsed = read_triples(path)
        dataset.triples[split] = parsed.records
        dataset.triple_files[split] = path
        dataset.problems.extend(parsed.problems)

    _read_entity_texts(folder, dataset)
    _read_relation_texts(folder, dataset)
    return dataset


def _read_entity_texts(folder: Path, dataset: Dataset) -> None:
    names: dict[str, str] = {}
    descriptions: dict[str, str] = {}
    if (folder / "entity2text.tsv").exists():
        parsed = read_text_table(folder / "entity2text.tsv", column_names="id, name")
        names.update((values[0], values[1]) for values in parsed.records)
        dataset.problems.extend(parsed.problems)
    if (folder / "entity2textlong.tsv").exists():
        parsed = read_text_table(folder / "entity2textlong.tsv", column_names="id, description")
        descriptions.update((values[0], values[1]) for values in parsed.records)
        dataset.problems.extend(parsed.problems)
    if (folder / "entity2types.tsv").exists() and (folder / "types.en.tsv").exists():
        names.update(_codex_entity_names(folder, dataset.problems))
    for entity in names.keys() | descriptions.keys():
        dataset.entities[entity] = EntityText(names.get(entity) or None, descriptions.get(entity) or None)


def _codex_entity_names(folder: Path, problems: list[LineProblem]) -> dict[str, str]:
    types = read_text_table(folder / "types.en.tsv", max_columns=3, column_names="type, label, description")
    problems.extend(types.problems)
    labels = {values[0]: values[1] for values in types.records if values[1]}
    entity_types = read_text_table(folder / "entity2types.tsv", column_names="entity, types")
    problems.extend(entity_types.problems)
    names = {}
    for values, number in zip(entity_types.records, entity_types.line_numbers):
        type_ids = [type_id.strip() for type_id in values[1].split(",") if type_id.strip()]
        unknown = [type_id for type_id in type_ids if type_id not in labels]
        if unknown:
            problems.append(LineProblem(
                entity_types.path, number, f"type(s) {', '.join(unknown)} not in types.en.tsv", "\t".join(values)
            ))
            continue
        names[values[0]] = "; ".join(labels[type_id] for type_id in type_ids)
    return names


def _read_relation_texts(folder: Path, dataset: Dataset) -> None:
    if (folder / "relation2text.tsv").exists():
        relations, problems = read_relation_file(folder / "relation2text.tsv")
        dataset.relations.update(relations)
        dataset.problems.extend(problems)
    json_path = folder / "relations.en.json"
    if json_path.exists():
        dataset.relations.update(_read_relation_json(json_path, dataset.problems))


def _read_relation_json(path: Path, problems: list[LineProblem]) -> dict[str, RelationText]:
    try:
        document = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as error:
        problems.append(LineProblem(path, 1, f"invalid UTF-8 at byte {error.start + 1} of the file"))
        return {}
    except json.JSONDecodeError as error:
        problems.append(LineProblem(path, error.lineno, f"invalid JSON: {error.msg} (column {error.colno})"))
        return {}
    if not isinstance(document, dict):
        problems.append(LineProblem(path, 1, "expected a JSON object {relation: {label, description}}"))
        return {}
    relations = {}
    for relation, text in document.items():
        if not isinstance(text, dict):
            problems.append(LineProblem(path, 1, f"relation {relation!r}: expected an object with label and description"))
            continue
        relations[relation] = RelationText(text.get("label") or None, text.get("description") or None)
    return relations
