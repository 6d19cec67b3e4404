"""The graph loader's readers validate every line and report problems as file:line."""
from pathlib import Path

import pytest

from graph_loader.datasets import UMLS_PATH
from graph_loader.readers import (
    InvalidInputError,
    Triple,
    parse_columns,
    read_dataset,
    read_negative_triples,
    read_triples,
)

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def test_tsv_problems_name_file_and_line(tmp_path):
    path = tmp_path / "bad.tsv"
    path.write_bytes(
        b"a\tr\tb\n"
        b"a\tr\n"
        b"\tr\tb\n"
        b"a\t\tb\n"
        b"a\tr\tb\textra\n"
        b"caf\xe9\tr\tb\n"
        b"c\tr\td\n"
    )

    parsed = read_triples(path)

    assert parsed.records == [Triple("a", "r", "b"), Triple("c", "r", "d")]
    assert parsed.line_numbers == [1, 7]
    messages = [str(problem) for problem in parsed.problems]
    assert messages[0] == f"{path}:2: expected 3 tab-separated columns (head, relation, tail), found 2"
    assert messages[1] == f"{path}:3: empty head"
    assert messages[2] == f"{path}:4: empty relation"
    assert messages[3] == f"{path}:5: expected 3 tab-separated columns (head, relation, tail), found 4"
    assert messages[4].startswith(f"{path}:6: invalid UTF-8 at byte 4")
    assert len(messages) == 5


def test_tsv_keeps_commas_and_quotes(tmp_path):
    path = tmp_path / "texts.tsv"
    path.write_text('x, "y"; z\t_also_see\tq,r\n', encoding="utf-8")

    parsed = read_triples(path)

    assert parsed.records == [Triple('x, "y"; z', "_also_see", "q,r")]


def test_csv_with_column_mapping(tmp_path):
    path = tmp_path / "facts.csv"
    path.write_text(
        'object,subject,predicate\n"Athens, Greece",Αθηνά,patron_of\nheadache,アスピリン,treats\n', encoding="utf-8"
    )

    parsed = read_triples(path, columns=parse_columns("head=subject,relation=predicate,tail=object"))

    assert parsed.problems == []
    assert parsed.records == [
        Triple("Αθηνά", "patron_of", "Athens, Greece"),
        Triple("アスピリン", "treats", "headache"),
    ]


def test_csv_missing_mapped_column(tmp_path):
    path = tmp_path / "facts.csv"
    path.write_text("s,p,o\na,r,b\n", encoding="utf-8")

    parsed = read_triples(path, columns=parse_columns("head=subject,relation=predicate,tail=object"))

    assert parsed.records == []
    assert len(parsed.problems) == 1
    assert str(parsed.problems[0]).startswith(f"{path}:1: header ['s', 'p', 'o'] has no column for head=subject")


def test_csv_short_row_names_line(tmp_path):
    path = tmp_path / "facts.csv"
    path.write_text("head,relation,tail\na,r,b\na,r\n", encoding="utf-8")

    parsed = read_triples(path)

    assert parsed.records == [Triple("a", "r", "b")]
    assert [str(problem) for problem in parsed.problems] == [
        f"{path}:3: expected 3 columns as in the header, found 2"
    ]


@pytest.mark.parametrize("spec", ["head=s,relation=p", "head=s,relation=p,tail=", "head=s,verb=p,tail=o", "head"])
def test_parse_columns_rejects_invalid(spec):
    with pytest.raises(ValueError):
        parse_columns(spec)


def test_umls_dataset_splits_and_texts():
    dataset = read_dataset(UMLS_PATH)

    assert dataset.name == "umls"
    assert dataset.problems == []
    assert sorted(dataset.triples) == ["test", "train", "valid"]
    assert len(dataset.triples["train"]) == sum(1 for line in (UMLS_PATH / "train.tsv").open() if line.strip())
    assert len(dataset.triples["valid"]) == sum(1 for line in (UMLS_PATH / "dev.tsv").open() if line.strip())
    assert dataset.entities["virus"].name == "virus"
    assert dataset.entities["virus"].description.startswith("A virus is a small infectious agent")
    assert dataset.relations["derivative_of"].name == "derivative of"


@pytest.mark.skipif(not (SHARED_DATA / "codex-s").is_dir(), reason="the shared CoDEx-S copy is not present")
def test_codex_names_from_types_and_negatives():
    dataset = read_dataset(SHARED_DATA / "codex-s")

    assert dataset.problems == []
    assert sorted(dataset.negative_files) == ["test", "valid"]
    # Negatives are listed for evaluation but never among the triples to load.
    assert "test_negatives" not in {path.stem for path in dataset.triple_files.values()}
    negatives = dataset.negatives("test")
    assert len(negatives) == sum(1 for line in (SHARED_DATA / "codex-s" / "test_negatives.tsv").open() if line.strip())
    assert dataset.entities["Q1001"].name == "human"
    assert dataset.relations["P509"].name == "cause of death"
    assert dataset.relations["P509"].description.startswith("underlying or immediate cause of death")


def test_negative_reader_raises_on_bad_line(tmp_path):
    path = tmp_path / "test_negatives.tsv"
    path.write_text("a\tr\tb\nbroken\n", encoding="utf-8")

    with pytest.raises(InvalidInputError) as raised:
        read_negative_triples(path)

    assert f"{path}:2: expected 3 tab-separated columns" in str(raised.value)
