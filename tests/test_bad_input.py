"""Bad input, table-driven: every case gives one clear error line, a non-zero exit, no traceback, no garbage.

Each case builds its bad input in a fresh folder, runs ``radioassist classify`` (click's CliRunner) and
checks the exit status, that exactly one ``Error:`` line names the problem, that no traceback is shown,
and that nothing was written to the output folder.  Most cases are also run through the Python API,
which must raise the documented exception with the same message.
"""
import os
import shutil

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS
from click.testing import CliRunner

from radioassist.cli import main
from radioassist.exceptions import (BackendError, CatalogError, ImageError, InputError, ModelError,
                                    RadioassistWarning)
from radioassist.pipeline import classify
from radioassist.simulate import simulate_sky

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")


def save_tiny_model(folder, labels=("FR-I", "FR-II"), task="B6", *, safe=True):
    torch.manual_seed(0)
    config = transformers.ResNetConfig(
        num_channels=3, embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="basic",
        num_labels=len(labels), id2label=dict(enumerate(labels)), label2id={lab: i for i, lab in enumerate(labels)})
    config.radioassist = {"task": task, "image_size": 32, "mean": [0.5] * 3, "std": [0.5] * 3,
                          "resample": "bilinear", "render_preset": "radio-llava"}
    model = transformers.ResNetForImageClassification(config)
    model.save_pretrained(folder)
    if not safe:  # a pickle checkpoint, as older transformers wrote them
        torch.save(model.state_dict(), folder / "pytorch_model.bin")
        (folder / "model.safetensors").unlink()
    return folder


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """Valid inputs that the cases break one at a time."""
    folder = tmp_path_factory.mktemp("good")
    sky = simulate_sky(shape=(200, 200), n_sources=12, seed=2, output=folder / "sky.fits")
    sky.write_catalog(folder / "sky.ecsv")
    model = save_tiny_model(folder / "model")
    return {"folder": folder, "mosaic": folder / "sky.fits", "catalog": folder / "sky.ecsv", "model": model,
            "header": fits.getheader(folder / "sky.fits"), "data": fits.getdata(folder / "sky.fits"),
            "table": Table.read(folder / "sky.ecsv")}


class Case:
    """One bad input: ``build(good, tmp)`` makes it and returns CLI arguments (and API keywords)."""

    def __init__(self, name, build, message, *, api=None, exit_code=None, api_message=None):
        self.name, self.build, self.message, self.api, self.exit_code = name, build, message, api, exit_code
        self.api_message = api_message

    def __repr__(self):
        return self.name


def _args(good, tmp, *, mosaic=None, catalog=None, extra=(), output=None, model=True):
    args = ["classify", str(mosaic or good["mosaic"]), "--catalog", str(catalog or good["catalog"]),
            "-o", str(output or tmp / "out" / "labels.ecsv"), "--size", "32"]
    if model:
        args += ["-m", str(good["model"])]
    return args + list(extra)


def _fits(tmp, name, data, header=None):
    path = tmp / name
    fits.writeto(path, data, header)
    return path


def _celestial_header(good):
    return WCS(good["header"]).celestial.to_header()


def _catalog(tmp, table, name="cat.ecsv"):
    path = tmp / name
    table.write(path)
    return path


# ----------------------------------------------------------------------------------------------- the cases
def not_fits(good, tmp):
    path = tmp / "image.fits"
    path.write_text("this is not a FITS file\n")
    return _args(good, tmp, mosaic=path), dict(image=path)


def truncated_fits(good, tmp):
    path = tmp / "truncated.fits"
    raw = good["mosaic"].read_bytes()
    path.write_bytes(raw[:len(raw) // 2])
    return _args(good, tmp, mosaic=path), dict(image=path)


def no_wcs(good, tmp):
    path = _fits(tmp, "nowcs.fits", good["data"])
    return _args(good, tmp, mosaic=path), dict(image=path)


def non_celestial_wcs(good, tmp):
    header = fits.Header({"CTYPE1": "FREQ", "CTYPE2": "STOKES", "CRVAL1": 1.4e9, "CDELT1": 1e6, "CRPIX1": 1,
                          "CRVAL2": 1, "CDELT2": 1, "CRPIX2": 1})
    path = _fits(tmp, "spectral.fits", good["data"], header)
    return _args(good, tmp, mosaic=path), dict(image=path)


def _cube(good, tmp):
    header = _celestial_header(good)
    header["CTYPE3"], header["CRVAL3"], header["CDELT3"], header["CRPIX3"] = "FREQ", 1.4e9, 1e7, 1
    return _fits(tmp, "cube.fits", np.stack([good["data"]] * 3), header)


def cube_without_plane(good, tmp):
    path = _cube(good, tmp)
    return _args(good, tmp, mosaic=path), dict(image=path)


def cube_plane_out_of_range(good, tmp):
    path = _cube(good, tmp)
    return _args(good, tmp, mosaic=path, extra=["--plane", "7"]), dict(image=path, plane=7)


def all_nan_mosaic(good, tmp):
    path = _fits(tmp, "blank.fits", np.full_like(good["data"], np.nan), good["header"])
    return _args(good, tmp, mosaic=path), dict(image=path)


def wrong_hdu_index(good, tmp):
    return _args(good, tmp, extra=["--hdu", "5"]), dict(hdu=5)


def hdu_is_a_table(good, tmp):
    path = tmp / "two.fits"
    fits.HDUList([fits.PrimaryHDU(good["data"], good["header"]),
                  fits.BinTableHDU(Table({"a": [1, 2]}))]).writeto(path)
    return _args(good, tmp, mosaic=path, extra=["--hdu", "1"]), dict(image=path, hdu=1)


def missing_image(good, tmp):
    return _args(good, tmp, mosaic=tmp / "nowhere.fits"), dict(image=tmp / "nowhere.fits")


def empty_catalog(good, tmp):
    path = _catalog(tmp, good["table"][:0])
    return _args(good, tmp, catalog=path), dict(catalog=path)


def catalog_without_coordinates(good, tmp):
    path = _catalog(tmp, Table({"flux": [1.0, 2.0], "name": ["a", "b"]}))
    return _args(good, tmp, catalog=path), dict(catalog=path)


def nan_coordinates(good, tmp):
    t = good["table"].copy()
    t["ra"] = np.nan
    path = _catalog(tmp, t)
    return _args(good, tmp, catalog=path), dict(catalog=path)


def out_of_range_coordinates(good, tmp):
    t = good["table"].copy()
    t["dec"] = 120.0
    path = _catalog(tmp, t)
    return _args(good, tmp, catalog=path), dict(catalog=path)


def sources_outside_the_mosaic(good, tmp):
    t = good["table"].copy()
    t["dec"] = -45.0
    path = _catalog(tmp, t)
    return _args(good, tmp, catalog=path), dict(catalog=path)


def sources_outside_every_tile(good, tmp):
    t = good["table"].copy()
    t["dec"] = -45.0
    path = _catalog(tmp, t)
    args = _args(good, tmp, catalog=path)
    args.insert(2, str(good["mosaic"]))
    return args, dict(catalog=path, image=[good["mosaic"], good["mosaic"]])


def missing_catalog(good, tmp):
    return _args(good, tmp, catalog=tmp / "nowhere.vot"), dict(catalog=tmp / "nowhere.vot")


def garbage_catalog(good, tmp):
    path = tmp / "cat.vot"
    path.write_bytes(b"\x00\x01\x02 not a votable \xff" * 20)
    return _args(good, tmp, catalog=path), dict(catalog=path)


def unknown_ra_column(good, tmp):
    return _args(good, tmp, extra=["--ra-col", "RAJ2000_nope"]), dict(catalog_options={"ra": "RAJ2000_nope"})


def negative_size(good, tmp):
    args = _args(good, tmp)
    args[args.index("--size") + 1] = "-5"
    return args, dict(size=-5)


def zero_size(good, tmp):
    args = _args(good, tmp)
    args[args.index("--size") + 1] = "0"
    return args, dict(size=0)


def huge_size(good, tmp):
    args = _args(good, tmp)
    args[args.index("--size") + 1] = "100000"
    return args, dict(size=100000)


def size_not_an_angle(good, tmp):
    args = _args(good, tmp)
    args[args.index("--size") + 1] = "5kg"
    return args, dict(size="5kg")


def unknown_task(good, tmp):
    return _args(good, tmp, extra=["--task", "B9"]), dict(task="B9")


def unknown_backend(good, tmp):
    return _args(good, tmp, extra=["--backend", "nonexistent"]), dict(backend="nonexistent")


def unknown_backend_option(good, tmp):
    return _args(good, tmp, extra=["--option", "colour=blue"]), dict(backend_options={"colour": "blue"})


def malformed_backend_option(good, tmp):
    return _args(good, tmp, extra=["--option", "nonsense"]), None


def api_key_on_the_command_line(good, tmp):
    return _args(good, tmp, extra=["--backend", "openai", "--option", "api_key=sk-secret"]), \
        dict(backend="openai", model="gpt-4.1", backend_options={"api_key": "sk-secret"})


def missing_model_folder(good, tmp):
    args = _args(good, tmp, model=False) + ["-m", str(tmp / "no-model/")]
    return args, dict(model=tmp / "no-model")


def model_without_config(good, tmp):
    folder = tmp / "m"
    shutil.copytree(good["model"], folder)
    (folder / "config.json").unlink()
    return _args(good, tmp, model=False) + ["-m", str(folder)], dict(model=folder)


def model_without_weights(good, tmp):
    folder = tmp / "m"
    shutil.copytree(good["model"], folder)
    (folder / "model.safetensors").unlink()
    return _args(good, tmp, model=False) + ["-m", str(folder)], dict(model=folder)


def model_labels_do_not_match(good, tmp):
    folder = save_tiny_model(tmp / "m3", labels=("NO", "YES"), task="B3")
    return _args(good, tmp, model=False) + ["-m", str(folder)], dict(model=folder)


def model_for_another_task_same_size(good, tmp):
    folder = save_tiny_model(tmp / "m1", labels=("COMPACT", "EXTENDED", "DIFFUSE"), task="B2")
    return _args(good, tmp, model=False) + ["-m", str(folder)], dict(model=folder)


def corrupted_weights(good, tmp):
    folder = tmp / "m"
    shutil.copytree(good["model"], folder)
    (folder / "model.safetensors").write_bytes(b"\x00" * 100)
    return _args(good, tmp, model=False) + ["-m", str(folder)], dict(model=folder)


def pickle_only_weights(good, tmp):
    folder = save_tiny_model(tmp / "mp", safe=False)
    return _args(good, tmp, model=False) + ["-m", str(folder)], dict(model=folder)


def output_folder_missing(good, tmp):
    return _args(good, tmp, output=tmp / "no" / "such" / "o.ecsv"), None


def output_parent_is_a_file(good, tmp):
    (tmp / "afile").write_text("x")
    return _args(good, tmp, output=tmp / "afile" / "o.ecsv"), None


def output_exists(good, tmp):
    (tmp / "out" / "labels.ecsv").write_text("precious")
    return _args(good, tmp), None


def output_unknown_extension(good, tmp):
    return _args(good, tmp, output=tmp / "out" / "labels.txt"), None


def regions_folder_missing(good, tmp):
    return _args(good, tmp, extra=["--regions", str(tmp / "none" / "r.reg")]), None


def batch_size_zero(good, tmp):
    return _args(good, tmp, extra=["--batch-size", "0"]), dict(batch_size=0)


def workers_zero(good, tmp):
    return _args(good, tmp, extra=["--workers", "0"]), dict(workers=0)


def workers_and_scheduler(good, tmp):
    return _args(good, tmp, extra=["--workers", "2", "--scheduler", "tcp://127.0.0.1:1"]), \
        dict(workers=2, scheduler="tcp://127.0.0.1:1")


def unreachable_scheduler(good, tmp):
    return _args(good, tmp, extra=["--scheduler", "tcp://127.0.0.1:1"]), dict(scheduler="tcp://127.0.0.1:1")


def bad_scheduler_address(good, tmp):
    return _args(good, tmp, extra=["--scheduler", "foo://bar"]), dict(scheduler="foo://bar")


def several_mosaics_without_output(good, tmp):
    return ["classify", str(good["mosaic"]), str(good["mosaic"]), "--catalog", str(good["catalog"])], None


CASES = [
    Case("not a FITS file", not_fits, "is not a FITS file", api=ImageError),
    Case("truncated FITS", truncated_fits, r"truncated", api=ImageError),
    Case("FITS without WCS", no_wcs, "has no celestial WCS", api=ImageError),
    Case("non-celestial WCS", non_celestial_wcs, r"has no celestial WCS \(CTYPE = \['FREQ', 'STOKES'\]",
         api=ImageError),
    Case("cube without --plane", cube_without_plane, r"is a cube: axis 3 \(FREQ\) has 3 planes.*--plane",
         api=ImageError),
    Case("cube plane out of range", cube_plane_out_of_range, "plane 7 is out of range", api=ImageError),
    Case("all-NaN mosaic", all_nan_mosaic, r"blank\.fits holds no data: all \d+ pixels sampled", api=ImageError),
    Case("wrong HDU index", wrong_hdu_index, r"has no HDU 5; it has 0: PRIMARY", api=ImageError),
    Case("HDU that is a table", hdu_is_a_table, r"HDU 1 of .* is not an image", api=ImageError),
    Case("missing image", missing_image, r"(nowhere\.fits.*not found|not found: .*nowhere\.fits)",
         api=FileNotFoundError),
    Case("empty catalogue", empty_catalog, r"cat\.ecsv has no rows", api=CatalogError),
    Case("catalogue without coordinates", catalog_without_coordinates,
         r"could not recognise position columns in .*cat\.ecsv. Columns seen: 'flux', 'name'. Pass --ra-col and "
         "--dec-col", api=CatalogError,
         api_message=r"could not recognise position columns in .*cat\.ecsv. Columns seen: 'flux', 'name'. Pass ra= "
                     "and dec="),
    Case("NaN coordinates", nan_coordinates, r"no row of .*cat\.ecsv has a valid position", api=CatalogError),
    Case("out-of-range coordinates", out_of_range_coordinates, r"no row of .*cat\.ecsv has a valid position",
         api=CatalogError),
    Case("sources outside the mosaic", sources_outside_the_mosaic,
         r"none of the 12 catalogue sources lies in the mosaic sky\.fits", api=InputError),
    Case("sources outside every tile", sources_outside_every_tile,
         "none of the 12 catalogue sources lies in any of the 2 mosaics", api=InputError),
    Case("missing catalogue", missing_catalog, r"(nowhere\.vot.*not found|not found: .*nowhere\.vot)",
         api=CatalogError),
    Case("garbage catalogue", garbage_catalog, r"cannot read .*cat\.vot", api=CatalogError),
    Case("unknown RA column", unknown_ra_column, "RAJ2000_nope", api=CatalogError),
    # the command line and the API say the same (radioassist._parameters), each in its own words (--size, size);
    # the CLI's value is a string
    Case("negative size", negative_size, r"Error: --size must be a positive number of pixels .* got '-5'",
         api=InputError, exit_code=2, api_message=r"size \(--size\) must be a positive number of pixels .* got -5"),
    Case("zero size", zero_size, r"Error: --size must be a positive number of pixels .* got '0'", api=InputError,
         exit_code=2, api_message=r"size \(--size\) must be a positive number of pixels .* got 0"),
    Case("huge size", huge_size, r"Error: --size is 100000 pixels, more than the maximum 8192", api=InputError,
         exit_code=2, api_message=r"size \(--size\) is 100000 pixels"),
    Case("size not an angle", size_not_an_angle, r"Error: --size must be .* got '5kg', which is not an angle",
         api=InputError, exit_code=2, api_message=r"size \(--size\) must be .* which is not an angle"),
    Case("unknown task", unknown_task, "unknown task 'B9'; available tasks: B1", api=InputError),
    Case("unknown backend", unknown_backend, "unknown backend 'nonexistent'; available backends", api=BackendError),
    Case("unknown backend option", unknown_backend_option, r"unknown option\(s\) colour for backend 'vision'",
         api=BackendError),
    Case("malformed backend option", malformed_backend_option, r"'nonsense' is not KEY=VALUE", exit_code=2),
    Case("API key on the command line", api_key_on_the_command_line, "environment", api=BackendError, exit_code=2,
         api_message=r"unknown option\(s\) api_key for backend 'openai'"),
    Case("missing model folder", missing_model_folder, r"model folder .*no-model/? does not exist", api=ModelError),
    Case("model without config.json", model_without_config, "has no config.json", api=ModelError),
    Case("model without weights", model_without_weights, "has no weight file", api=ModelError),
    Case("model labels do not match the task", model_labels_do_not_match,
         "trained for task B3, not B6", api=ModelError),
    Case("model of another task", model_for_another_task_same_size, "trained for task B2, not B6", api=ModelError),
    Case("corrupted weights", corrupted_weights, r"could not load image-classification model", api=ModelError),
    Case("pickle-only weights", pickle_only_weights, r"only has pickle weights .*--allow-pickle", api=ModelError,
         api_message=r"only has pickle weights .*allow_pickle=True"),
    Case("output folder missing", output_folder_missing, r"folder .*such does not exist"),
    Case("output parent is a file", output_parent_is_a_file, r"afile is a file, not a folder"),
    Case("output exists", output_exists, r"labels\.ecsv already exists: pass .*--overwrite"),
    Case("unknown output extension", output_unknown_extension, r"cannot tell the output format of .*labels\.txt"),
    Case("region file folder missing", regions_folder_missing, r"cannot write .*r\.reg: folder"),
    Case("batch size zero", batch_size_zero, r"Error: --batch-size must be a positive integer, got 0",
         api=InputError, exit_code=2, api_message=r"batch_size \(--batch-size\) must be a positive integer, got 0"),
    Case("zero workers", workers_zero, r"Error: --workers must be a positive integer, got 0", api=InputError,
         exit_code=2, api_message=r"workers \(--workers\) must be a positive integer, got 0"),
    Case("workers and scheduler", workers_and_scheduler, "not both", api=InputError, exit_code=2),
    Case("unreachable scheduler", unreachable_scheduler, "cannot connect to the dask scheduler at 'tcp://127.0.0.1:1'",
         api=InputError),
    Case("bad scheduler address", bad_scheduler_address, "unknown address scheme 'foo'", api=InputError),
    Case("several mosaics without -o", several_mosaics_without_output, "-o/--output", exit_code=2),
]


def _files(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_cli(case, good, tmp_path, monkeypatch):
    from radioassist import parallel
    monkeypatch.setattr(parallel, "CONNECT_TIMEOUT", 2)
    (tmp_path / "out").mkdir()
    args, _ = case.build(good, tmp_path)
    before = _files(tmp_path)
    result = CliRunner().invoke(main, args)
    output = result.output
    assert result.exit_code == (case.exit_code or 1), output
    assert "Traceback" not in output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    errors = [line for line in output.splitlines() if line.startswith("Error")]
    assert len(errors) == 1, output
    import re
    assert re.search(case.message, errors[0]), errors[0]
    if os.environ.get("RADIOASSIST_SHOW_ERRORS"):
        print(f"\n[{case.name}] {errors[0]}")
    assert _files(tmp_path) == before  # nothing written: no output, no .part, no partial results
    if "output exists" in case.name:
        assert (tmp_path / "out" / "labels.ecsv").read_text() == "precious"


API_CASES = [c for c in CASES if c.api is not None]


@pytest.mark.parametrize("case", API_CASES, ids=[c.name for c in API_CASES])
def test_api(case, good, tmp_path, monkeypatch):
    from radioassist import parallel
    monkeypatch.setattr(parallel, "CONNECT_TIMEOUT", 2)
    (tmp_path / "out").mkdir()
    _, kwargs = case.build(good, tmp_path)
    if kwargs is None:
        pytest.skip("command-line only")
    kwargs = dict(kwargs)
    image = kwargs.pop("image", good["mosaic"])
    catalog = kwargs.pop("catalog", good["catalog"])
    kwargs.setdefault("model", good["model"])
    kwargs.setdefault("size", 32)
    before = _files(tmp_path)
    message = case.api_message or case.message
    with pytest.raises(case.api, match=message):
        classify(image, catalog, **kwargs)
    assert _files(tmp_path) == before


def test_unreadable_region_lines_are_skipped_with_a_warning(good, tmp_path):
    """Not an error: a region file with a few broken lines is read, the broken lines skipped with a warning."""
    sky = Table.read(good["catalog"])
    lines = ["# Region file format: DS9 version 4.1", "fk5"]
    for i, row in enumerate(sky):
        lines.append(f"circle({row['ra']:.6f},{row['dec']:.6f},20\")")
        if i in (2, 5):
            lines.append(f"circle({row['ra']:.6f},{row['dec']:.6f})")  # no radius
            lines.append("ellipse(abc,def,1,2,3)")
            lines.append("hello world")
    path = tmp_path / "sources.reg"
    path.write_text("\n".join(lines) + "\n")
    out = tmp_path / "labels.ecsv"
    result = CliRunner().invoke(main, ["classify", str(good["mosaic"]), "--catalog", str(path), "-m",
                                       str(good["model"]), "--size", "32", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    assert len(Table.read(out)) == len(sky)
    with pytest.warns(RadioassistWarning, match=r"sources\.reg: skipped 6 unreadable region line\(s\)"):
        table = classify(good["mosaic"], path, model=good["model"], size=32)
    assert len(table) == len(sky)


def test_all_nan_check_does_not_read_the_whole_file(good, tmp_path):
    """The blank-mosaic check samples: a mosaic with data in a small patch only is not called blank."""
    data = np.full((2000, 2000), np.nan, dtype=np.float32)
    data[900:1100, 900:1100] = 1.0
    header = _celestial_header(good)
    path = _fits(tmp_path, "patch.fits", data, header)
    from radioassist.tiles import tile_footprint
    fp = tile_footprint(path)
    assert fp.coverage.any() and fp.n_samples <= 4 * 512 * 512
