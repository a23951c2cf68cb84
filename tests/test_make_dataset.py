"""Instruction-tuning data and benchmark datalists from labelled images (training.make_dataset)."""
import json
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from PIL import Image

from radioassist.cutouts import extract_cutouts
from radioassist.exceptions import InputError
from radioassist.prompts import PREAMBLE, build_prompt, format_answer
from radioassist.render import render
from radioassist.simulate import simulate_sky
from radioassist.tasks import get_task, labels_from_tags
from radioassist.training.formats import read_conversations, read_datalist, write_datalist
from radioassist.training.make_dataset import (CAPTION_QUESTIONS, QUESTION_PARAPHRASES, auto_caption,
                                               make_dataset, split_ids, task_question)


@pytest.fixture(scope="module")
def sky():
    return simulate_sky(shape=(512, 512), n_sources=40, seed=1)


def _png(folder, name):
    return np.asarray(Image.open(Path(folder) / name).convert("RGB"))


def _records_by_id(folder):
    out = {}
    for split in ("train", "valid"):
        for record in read_conversations(Path(folder) / f"{split}.json", check_images=True):
            out[record["id"]] = (split, record)
    return out


# ------------------------------------------------------------------------------------- mosaic + catalogue
def test_catalogue_dataset_holds_what_the_backend_sees(sky, tmp_path):
    result = make_dataset(sky.image, tmp_path, tasks=["B3", "B6", "B1"], catalog=sky.catalog, size=48,
                          fits=True, paraphrases=False)
    catalog = sky.catalog
    assert result.n_images == len(catalog) == 40 and result.n_skipped == 0
    stack = extract_cutouts(sky.image, catalog, size=48)
    expected = render(stack.data, preset="radio-llava")
    records = _records_by_id(tmp_path)
    for i, row in enumerate(catalog):
        name = row["name"]
        # the PNG is exactly the rendered cutout a VLM backend gets; the FITS holds the float cutout
        np.testing.assert_array_equal(_png(tmp_path, f"images/{name}.png"), expected[i])
        np.testing.assert_array_equal(fits.getdata(tmp_path / "images" / f"{name}.fits"), stack.data[i])
        for task_id in ("B3", "B6", "B1"):
            truth = str(row[f"{task_id}_true"])
            key = f"{name}-{task_id}"
            if not truth:  # no FR class for point and diffuse sources: no B6 question
                assert task_id == "B6" and key not in records
                continue
            split, record = records[key]
            assert record["image"] == f"images/{name}.png"
            task = get_task(task_id)
            labels = [] if truth == "NONE" else truth.split(",")
            assert record["conversations"] == [
                {"from": "human", "value": "<image>\n" + build_prompt(task)},
                {"from": "gpt", "value": format_answer(task, labels)}]
    # benchmark datalists: every labelled image (with its split), and the held-out ones alone
    for task_id in ("B3", "B6", "B1"):
        entries = read_datalist(tmp_path / f"datalist_{task_id}.json", check_files=True)
        held = read_datalist(tmp_path / f"datalist_{task_id}_valid.json", check_files=True)
        assert [e for e in entries if e["split"] == "valid"] == held
        assert all(e["filepaths"][0].endswith(".fits") for e in entries)
    b6 = read_datalist(tmp_path / "datalist_B6.json")
    assert len(b6) == int(np.sum(catalog["B6_true"] != "")) and {e["label"] for e in b6} <= {"FR-I", "FR-II"}
    b1 = {e["id"]: e["label"] for e in read_datalist(tmp_path / "datalist_B1.json")}
    assert all(isinstance(v, list) for v in b1.values()) and ["NONE"] in b1.values()
    info = json.loads((tmp_path / "dataset.json").read_text())
    assert info["counts"]["B3"] == result.counts["B3"] and info["tasks"] == ["B3", "B6", "B1"]
    assert sum(result.n_records.values()) == 40 + 40 + len(b6)


def test_held_out_datalist_reads_for_evaluation(sky, tmp_path):
    """The held-out datalist feeds load_datalist (the evaluation path) with the same images and labels."""
    from radioassist.training.datasets import load_datalist

    make_dataset(sky.image, tmp_path, tasks=["B3"], catalog=sky.catalog, size=32, val_fraction=0.25)
    held = read_datalist(tmp_path / "datalist_B3_valid.json")
    data = load_datalist(tmp_path / "datalist_B3_valid.json", task="B3")
    assert len(data) == len(held) == 10
    assert [get_task("B3").labels[t] for t in data.targets] == [e["label"] for e in held]
    np.testing.assert_array_equal(data.rgb()[0], _png(tmp_path, held[0]["filepaths"][0]))


def test_split_is_stratified_seeded_and_order_independent(sky, tmp_path):
    options = dict(tasks=["B3"], size=32, val_fraction=0.25)
    make_dataset(sky.image, tmp_path / "a", catalog=sky.catalog, seed=7, **options)
    make_dataset(sky.image, tmp_path / "b", catalog=sky.catalog[::-1], seed=7, **options)
    make_dataset(sky.image, tmp_path / "c", catalog=sky.catalog, seed=8, **options)

    def splits(folder):
        entries = read_datalist(tmp_path / folder / "datalist_B3.json")
        return {e["id"]: (e["split"], e["label"]) for e in entries}

    a, b, c = splits("a"), splits("b"), splits("c")
    assert a == b  # reordering the catalogue moves no source between splits
    assert a != c  # another seed, another split
    for label in ("YES", "NO"):
        n = sum(1 for _, lab in a.values() if lab == label)
        n_valid = sum(1 for split, lab in a.values() if lab == label and split == "valid")
        assert n_valid == round(0.25 * n)  # stratified by label


def test_split_ids_keeps_given_membership():
    ids = [f"s{i}" for i in range(50)]
    strata = ["A" if i % 3 else "B" for i in range(50)]
    first = dict(zip(ids, split_ids(ids, strata, val_fraction=0.2, seed=1)))
    assert sum(v == "valid" for v in first.values()) == round(0.2 * 33) + round(0.2 * 17)
    # a stratum of two still gets one validation image; one alone stays in training
    assert split_ids(["x", "y"], ["A", "A"], val_fraction=0.1).count("valid") == 1
    assert split_ids(["x"], ["A"], val_fraction=0.5) == ["train"]
    with pytest.raises(InputError, match="val_fraction must be in"):
        split_ids(ids, strata, val_fraction=1.0)


def test_paraphrases_are_deterministic_and_keep_the_answer_format(sky, tmp_path):
    for task_id, alternatives in QUESTION_PARAPHRASES.items():
        canonical = build_prompt(task_id)
        variants = [task_question(task_id, variant=k) for k in range(len(alternatives) + 1)]
        assert variants[0] == canonical and len(set(variants)) == len(variants)
        for text in variants:  # same preamble, options and instructions: only the question differs
            assert text.startswith(PREAMBLE)
            assert text.split("Instructions:")[1] == canonical.split("Instructions:")[1]
    make_dataset(sky.image, tmp_path / "a", tasks=["B3"], catalog=sky.catalog, size=32)
    make_dataset(sky.image, tmp_path / "b", tasks=["B3"], catalog=sky.catalog, size=32)
    make_dataset(sky.image, tmp_path / "c", tasks=["B3"], catalog=sky.catalog, size=32, paraphrases=False)
    questions = {k: r["conversations"][0]["value"] for k, (_, r) in _records_by_id(tmp_path / "a").items()}
    again = _records_by_id(tmp_path / "b")
    assert questions == {k: r["conversations"][0]["value"] for k, (_, r) in again.items()}
    used = {text: sum(q == "<image>\n" + text for q in questions.values())
            for text in [task_question("B3", variant=k) for k in range(4)]}
    assert 10 <= used[build_prompt("B3")] <= 30 and sum(v > 0 for v in used.values()) == 4
    assert all(r["conversations"][0]["value"] == "<image>\n" + build_prompt("B3")
               for _, r in _records_by_id(tmp_path / "c").values())


def test_tags_column_gives_b1_b3_b4_b5_labels(sky, tmp_path):
    tags = ["COMPACT", "RADIO-GALAXY,EXTENDED", "ARTEFACT,COMPACT", "WTF,DIFFUSE-LARGE", "BACKGROUND",
            "DIFFUSE", "EXTENDED,BORDER", "RADIO-GALAXY,ARTEFACT"] * 5
    table = Table({"src": [f"t{i}" for i in range(40)], "ra": sky.catalog["ra"], "dec": sky.catalog["dec"],
                   "tags": tags})
    make_dataset(sky.image, tmp_path, tasks=["B1", "B3", "B4", "B5"], catalog=table, size=32, id_column="src",
                 multi_turn=True, paraphrases=False)
    records = _records_by_id(tmp_path)
    assert len(records) == 40
    for i, tag in enumerate(tags):
        _, record = records[f"t{i}"]
        answers = record["conversations"][1::2]
        expected = [format_answer(t, labels_from_tags(t, tag)) for t in ("B1", "B3", "B4", "B5")]
        assert [a["value"] for a in answers] == expected
    assert len(read_datalist(tmp_path / "datalist_B4.json")) == 40


def test_multi_turn_records_and_captions(sky, tmp_path):
    table = sky.catalog.copy()
    table["note"] = [f"A source called {n}." if i % 2 else "" for i, n in enumerate(table["name"])]
    make_dataset(sky.image, tmp_path / "auto", tasks=["B3", "B6"], catalog=table, size=32, multi_turn=True,
                 captions=True, paraphrases=False)
    records = _records_by_id(tmp_path / "auto")
    assert len(records) == 40  # one record per image
    for row in table:
        _, record = records[row["name"]]
        turns = record["conversations"]
        n_tasks = 2 if row["B6_true"] else 1
        assert len(turns) == 2 * (n_tasks + 1) and turns[0]["value"].startswith("<image>\n")
        assert sum("<image>" in t["value"] for t in turns) == 1
        assert turns[-2]["value"] in CAPTION_QUESTIONS
        labels = {"B3": (str(row["B3_true"]),), "B6": (str(row["B6_true"]),) if row["B6_true"] else None}
        assert turns[-1]["value"] == auto_caption(labels)
    make_dataset(sky.image, tmp_path / "column", tasks=["B3"], catalog=table, size=32, caption_column="note")
    records = _records_by_id(tmp_path / "column")
    captions = {k: r["conversations"][1]["value"] for k, (_, r) in records.items() if k.endswith("-caption")}
    name = table["name"][1]
    assert len(captions) == 20 and captions[f"{name}-caption"] == f"A source called {name}."


# ------------------------------------------------------------------------------------------ other sources
@pytest.fixture(scope="module")
def pngs(sky, tmp_path_factory):
    """Rendered FR-I / FR-II cutouts of the simulated sky as PNG files, with their truth."""
    folder = tmp_path_factory.mktemp("pngs")
    rows = [r for r in sky.catalog if r["B6_true"]]
    stack = extract_cutouts(sky.image, Table(rows=rows, names=sky.catalog.colnames), size=40)
    images = render(stack.data)
    out = []
    for row, image in zip(rows, images):
        path = folder / row["B6_true"] / f"{row['name']}.png"
        path.parent.mkdir(exist_ok=True)
        Image.fromarray(image).save(path)
        out.append((path, str(row["B6_true"]), str(row["B1_true"])))
    return folder, out


def test_datalist_source_with_task_labels_and_tag_lists(pngs, tmp_path):
    folder, files = pngs
    entries = [{"filepaths": [str(p)], "label": b6, "id": i, "sname": p.stem}
               for i, (p, b6, _) in enumerate(files)]
    write_datalist(entries, tmp_path / "b6.json")
    result = make_dataset(tmp_path / "b6.json", tmp_path / "out", tasks=["B6"], val_fraction=0.2,
                          paraphrases=False)
    assert result.n_images == len(files)
    out = read_datalist(tmp_path / "out" / "datalist_B6.json")
    assert [e["label"] for e in sorted(out, key=lambda e: int(e["id"]))] == [b6 for _, b6, _ in files]
    np.testing.assert_array_equal(_png(tmp_path / "out", out[0]["filepaths"][0]),
                                  _png(folder, files[int(out[0]["id"])][0].relative_to(folder)))
    # upstream-style tag lists as labels (B3 derives from them), mixed with plain labels
    tagged = [{"filepaths": [str(p)], "label": ["RADIO-GALAXY", "EXTENDED"] if k % 2 else "NO"}
              for k, (p, _, _) in enumerate(files)]
    write_datalist(tagged, tmp_path / "tags.json")
    make_dataset(tmp_path / "tags.json", tmp_path / "b3", tasks=["B3"], paraphrases=False)
    labels = {e["id"]: e["label"] for e in read_datalist(tmp_path / "b3" / "datalist_B3.json")}
    assert sorted(labels.values()) == sorted("YES" if k % 2 else "NO" for k in range(len(files)))
    write_datalist([dict(tagged[0], label="MAYBE")] + tagged[1:], tmp_path / "bad.json")
    with pytest.raises(InputError, match=r"not labels of the task: task B3 \(YES, NO\): 'MAYBE' \(1\)"):
        make_dataset(tmp_path / "bad.json", tmp_path / "bad", tasks=["B3"])


def test_folder_source(pngs, tmp_path):
    folder, files = pngs
    result = make_dataset(folder, tmp_path / "out", tasks=["B6"], paraphrases=False)
    assert result.n_images == len(files)
    records = _records_by_id(tmp_path / "out")
    for path, b6, _ in files:
        _, record = records[f"{b6}/{path.stem}-B6"]
        assert record["conversations"][1]["value"] == b6
    with pytest.raises(InputError, match="gives the labels of one task, got 2 tasks"):
        make_dataset(folder, tmp_path / "two", tasks=["B6", "B3"])


def test_real_fits_datalist(shared_data, tmp_path):
    """FR-DEEP FITS cutouts (VLA FIRST) in an upstream-style datalist: rendered PNGs, exact FITS copies."""
    root = shared_data / "frdeep_v2" / "FIRST"
    files = sorted(root.glob("*_I.fits"))[:4] + sorted(root.glob("*_II.fits"))[:4]
    entries = [{"filepaths": [str(f)], "label": "FR-II" if f.stem.endswith("_II") else "FR-I",
                "sname": f.stem} for f in files]
    write_datalist(entries, tmp_path / "frdeep.json")
    result = make_dataset(tmp_path / "frdeep.json", tmp_path / "out", tasks=["B6"], fits=True,
                          val_fraction=0.25)
    assert result.counts["B6"]["valid"] == {"FR-I": 1, "FR-II": 1}
    for entry in read_datalist(tmp_path / "out" / "datalist_B6.json"):
        source = next(f for f in files if f.stem == entry["sname"])
        copied = tmp_path / "out" / entry["filepaths"][0]
        assert copied.read_bytes() == source.read_bytes()
        data = np.squeeze(fits.getdata(source)).astype(np.float32)
        png = _png(tmp_path / "out", entry["filepaths"][0].replace(".fits", ".png"))
        np.testing.assert_array_equal(png, render(data, preset="radio-llava")[0])


# ------------------------------------------------------------------------------------------ errors
def test_errors(sky, tmp_path):
    make_dataset(sky.image, tmp_path / "out", tasks=["B3"], catalog=sky.catalog, size=32)
    with pytest.raises(InputError, match="already holds a dataset .*overwrite=True"):
        make_dataset(sky.image, tmp_path / "out", tasks=["B3"], catalog=sky.catalog, size=32)
    make_dataset(sky.image, tmp_path / "out", tasks=["B6"], catalog=sky.catalog, size=32, overwrite=True)
    assert not (tmp_path / "out" / "datalist_B3.json").exists()  # the old dataset is gone
    with pytest.raises(InputError, match="no label column for task B2 .*--label-column B2=COLUMN"):
        make_dataset(sky.image, tmp_path / "b2", tasks=["B2"], catalog=sky.catalog)
    expected = r"task B6 \(FR-I, FR-II\): 'diffuse' \(6\), 'point' \(22\).*--label-map diffuse=FR-I"
    with pytest.raises(InputError, match=expected):
        make_dataset(sky.image, tmp_path / "kind", tasks=["B6"], catalog=sky.catalog,
                     label_columns={"B6": "kind"})
    with pytest.raises(InputError, match="label column 'nope' \\(task B3\\) is not in"):
        make_dataset(sky.image, tmp_path / "nope", tasks=["B3"], catalog=sky.catalog, label_columns=["nope"])
    with pytest.raises(InputError, match="with several tasks give TASK=COLUMN"):
        make_dataset(sky.image, tmp_path / "x", tasks=["B3", "B6"], catalog=sky.catalog,
                     label_columns=["kind"])
    with pytest.raises(InputError, match="unknown task 'B9'"):
        make_dataset(sky.image, tmp_path / "x", tasks=["B9"], catalog=sky.catalog)
    with pytest.raises(InputError, match="val_fraction must be in"):
        make_dataset(sky.image, tmp_path / "x", tasks=["B3"], catalog=sky.catalog, val_fraction=1.5)
    with pytest.raises(InputError, match="is a single image: .*give its labelled catalogue"):
        sky.write(tmp_path / "sky.fits")
        make_dataset(tmp_path / "sky.fits", tmp_path / "x", tasks=["B3"])
    kinds = sky.catalog.copy()
    kinds["fr"] = ["I" if k == "FR-I" else "II" if k == "FR-II" else "" for k in kinds["kind"]]
    result = make_dataset(sky.image, tmp_path / "mapped", tasks=["B6"], catalog=kinds, size=32,
                          label_columns={"B6": "fr"}, label_map="I=FR-I,II=FR-II")
    assert sum(sum(c.values()) for c in result.counts["B6"].values()) == int(np.sum(kinds["fr"] != ""))


def test_cli_error_is_one_line(sky, tmp_path):
    from click.testing import CliRunner

    from radioassist.cli._make_dataset import make_dataset_command

    sky.write(tmp_path / "sky.fits")
    sky.write_catalog(tmp_path / "truth.ecsv")
    result = CliRunner().invoke(make_dataset_command, [str(tmp_path / "sky.fits"), "--catalog",
                                                       str(tmp_path / "truth.ecsv"), "-t", "B2", "-o",
                                                       str(tmp_path / "out")])
    assert result.exit_code == 1
    assert result.output.startswith("Error: no label column for task B2") and "Traceback" not in result.output
