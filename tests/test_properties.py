"""Property-based tests (hypothesis): catalogue column detection, answer parsing, cutout geometry."""
import math
import warnings

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import Angle
from astropy.table import Table
from astropy.wcs import WCS

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from radioassist.catalog import read_catalog  # noqa: E402
from radioassist.cutouts import extract_cutouts  # noqa: E402
from radioassist.flags import on_image  # noqa: E402
from radioassist.parsing import parse_answer  # noqa: E402
from radioassist.tasks import get_task  # noqa: E402

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ------------------------------------------------------------------------------------------------ catalogues
#: (RA name, Dec name, frame the name implies) as written by PyBDSF, Selavy, SExtractor, VizieR, Aegean...
POSITION_NAMES = [
    ("RA", "DEC", "icrs"), ("ra", "dec", "icrs"), ("RAJ2000", "DEJ2000", "fk5"), ("RA_J2000", "DEC_J2000", "fk5"),
    ("ra_deg", "dec_deg", "icrs"), ("RA_DEG", "DEC_DEG", "icrs"), ("ALPHA_J2000", "DELTA_J2000", "fk5"),
    ("RAdeg", "DEdeg", "icrs"), ("_RAJ2000", "_DEJ2000", "fk5"), ("ra_icrs", "dec_icrs", "icrs"),
    ("Right_Ascension", "Declination", "icrs"), ("col_ra_deg_cont", "col_dec_deg_cont", "icrs"),
    ("RA_ICRS", "DE_ICRS", "icrs"), ("raj2000", "decj2000", "fk5"), ("ra_cont", "dec_cont", "icrs"),
]
#: columns that must never be taken for positions
DISTRACTORS = {"E_RA": u.arcsec, "E_DEC": u.arcsec, "Total_flux": u.mJy, "Peak_flux": u.mJy, "Isl_rms": u.mJy,
               "S_Code": None, "Source_id": None}


@st.composite
def catalogues(draw):
    ra_name, dec_name, frame = draw(st.sampled_from(POSITION_NAMES))
    n = draw(st.integers(1, 6))
    ra = np.array(draw(st.lists(st.floats(0, 359.999999), min_size=n, max_size=n)))
    dec = np.array(draw(st.lists(st.floats(-89.999, 89.999), min_size=n, max_size=n)))
    style = draw(st.sampled_from(["deg", "rad", "hourangle", "none", "sexagesimal"]))
    table = Table()
    extras = draw(st.lists(st.sampled_from(sorted(DISTRACTORS)), unique=True, max_size=4))
    order = draw(st.permutations(["ra", "dec"] + extras))
    for key in order:
        if key == "ra":
            if style == "sexagesimal":
                table[ra_name] = Angle(ra, u.deg).to_string(unit=u.hourangle, sep=":", precision=6, pad=True)
            elif style == "none":
                table[ra_name] = ra
            else:
                unit = u.Unit(style)
                table[ra_name] = (ra * u.deg).to_value(unit)
                table[ra_name].unit = unit
        elif key == "dec":
            if style == "sexagesimal":
                table[dec_name] = Angle(dec, u.deg).to_string(unit=u.deg, sep=":", precision=5, alwayssign=True,
                                                              pad=True)
            elif style in ("none",):
                table[dec_name] = dec
            else:
                unit = u.rad if style == "rad" else u.deg
                table[dec_name] = (dec * u.deg).to_value(unit)
                table[dec_name].unit = unit
        else:
            unit = DISTRACTORS[key]
            values = draw(st.lists(st.floats(0.01, 1000), min_size=n, max_size=n))
            table[key] = [f"x{i}" for i in range(n)] if unit is None else values
            if unit is not None:
                table[key].unit = unit
    return table, ra_name, dec_name, frame, ra, dec, style


def _angular_error_deg(lon1, lat1, lon2, lat2):
    d_lon = (np.asarray(lon1) - np.asarray(lon2) + 180) % 360 - 180
    return np.hypot(d_lon * np.cos(np.radians(lat2)), np.asarray(lat1) - np.asarray(lat2))


@SETTINGS
@given(catalogues())
def test_position_columns_found_whatever_their_names_and_units(case):
    table, ra_name, dec_name, frame, ra, dec, style = case
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = read_catalog(table)
    info = out.meta["radioassist_catalog"]
    assert (info["ra_column"], info["dec_column"]) == (ra_name, dec_name)
    coord = out["skycoord"]
    assert coord.frame.name == frame
    assert np.all(out["position_ok"])
    tolerance = 1e-6 if style == "sexagesimal" else 1e-9
    err = _angular_error_deg(coord.spherical.lon.deg, coord.spherical.lat.deg, ra, dec)
    assert np.all(err < tolerance), (err, ra, dec)
    assert out.colnames[:len(table.colnames)] == table.colnames  # every column kept, in order
    assert len(out) == len(table)


SIZE_NAMES = ["Maj", "DC_Maj", "LAS", "maj_axis"]


@SETTINGS
@given(name=st.sampled_from(SIZE_NAMES), unit=st.sampled_from(["arcsec", "arcmin", "deg"]),
       values=st.lists(st.floats(0.1, 500), min_size=1, max_size=5))
def test_size_column_converted_to_arcsec(name, unit, values):
    n = len(values)
    table = Table({"RA": np.linspace(10, 11, n), "DEC": np.linspace(-5, 5, n), name: values,
                   "E_" + name: np.full(n, 0.5), "Peak_flux": np.ones(n)})
    table[name].unit = unit
    table["E_" + name].unit = unit
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = read_catalog(table)
    assert out.meta["radioassist_catalog"]["size_column"] == name  # never its error column
    np.testing.assert_allclose(u.Quantity(out["source_size"]).to_value(u.arcsec),
                               (np.asarray(values) * u.Unit(unit)).to_value(u.arcsec), rtol=1e-12)


# ------------------------------------------------------------------------------------------------ answers
SINGLE = [get_task(t) for t in ("B2", "B3", "B4", "B5", "B6")]
B1 = get_task("B1")


def _decorate(draw, text):
    text = draw(st.sampled_from([text, text.lower(), text.title(), text.upper()]))
    template = draw(st.sampled_from(["{}", " {} ", "{}.", "**{}**", "'{}'", "The answer is {}.",
                                     "Answer: {}", "{}!", "Label: {}\n", "I think it is {}."]))
    return template.format(text)


@st.composite
def single_label_answers(draw):
    task = draw(st.sampled_from(SINGLE))
    label = draw(st.sampled_from(task.labels))
    return task, label, _decorate(draw, label)


@SETTINGS
@given(single_label_answers())
def test_a_label_in_any_dress_parses_to_itself(case):
    task, label, text = case
    assert parse_answer(task, text) == (label,), text


@SETTINGS
@given(subset=st.lists(st.sampled_from(B1.labels), unique=True, min_size=1),
       sep=st.sampled_from([", ", ",", " and ", "; ", " & "]), case=st.sampled_from([str.upper, str.lower]))
def test_multilabel_answers_parse_to_the_subset_in_task_order(subset, sep, case):
    text = case(sep.join(subset))
    expected = tuple(lab for lab in B1.labels if lab in subset)
    assert parse_answer(B1, text) == expected, text


@SETTINGS
@given(task=st.sampled_from(SINGLE + [B1]), text=st.text(max_size=200))
def test_parser_never_raises_and_answers_within_the_label_set(task, text):
    result = parse_answer(task, text)
    assert result is None or (isinstance(result, tuple) and set(result) <= set(task.labels))
    if result is not None and not task.multilabel:
        assert len(result) <= 1


@SETTINGS
@given(task=st.sampled_from(SINGLE), words=st.lists(st.sampled_from(
    ["galaxy", "source", "radio", "image", "shows", "the", "a", "bright", "lobes", "jet", "unclear", "maybe"]),
    max_size=8))
def test_text_without_a_label_is_unparsable(task, words):
    text = " ".join(words)
    assume(not any(lab.lower() in text.lower() for lab in task.labels))
    assert parse_answer(task, text) is None


@SETTINGS
@given(task=st.sampled_from([get_task("B6"), get_task("B5")]), data=st.data())
def test_negated_label_is_not_the_answer(task, data):
    label = data.draw(st.sampled_from(task.labels))
    others = [lab for lab in task.labels if lab != label]
    other = data.draw(st.sampled_from(others))
    assert parse_answer(task, f"It is not {label}.") is None
    assert parse_answer(task, f"Not {label}; the answer is {other}.") == (other,)


# ------------------------------------------------------------------------------------------------ cutouts
def _linear_wcs():
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [150.0, 2.0]
    w.wcs.crpix = [20.0, 15.0]
    w.wcs.cdelt = [-1.5 / 3600, 1.5 / 3600]
    return w


def _direct(data, x, y, size):
    """The reference: a NaN-padded slice of ``data``, corner at ceil(xy - size / 2)."""
    ny, nx = data.shape
    x0 = math.ceil(x - size / 2 - 1e-6)
    y0 = math.ceil(y - size / 2 - 1e-6)
    out = np.full((size, size), np.nan, dtype=np.float32)
    xa, xb = max(x0, 0), min(x0 + size, nx)
    ya, yb = max(y0, 0), min(y0 + size, ny)
    if xa < xb and ya < yb:
        out[ya - y0:yb - y0, xa - x0:xb - x0] = data[ya:yb, xa:xb]
    return out, (x0, y0), not (xa < xb and ya < yb)


@SETTINGS
@given(ny=st.integers(1, 50), nx=st.integers(1, 50), size=st.integers(1, 40), data=st.data())
def test_cutouts_equal_direct_slicing_anywhere(ny, nx, size, data):
    n = data.draw(st.integers(1, 6))
    xs = data.draw(st.lists(st.floats(-size - 2.0, nx + size + 1.0).map(lambda v: round(v * 8) / 8),
                            min_size=n, max_size=n))  # includes exact pixel centres and half-pixel edges
    ys = data.draw(st.lists(st.floats(-size - 2.0, ny + size + 1.0).map(lambda v: round(v * 8) / 8),
                            min_size=n, max_size=n))
    rng = np.random.default_rng(ny * 1000 + nx)
    image = rng.normal(size=(ny, nx)).astype(np.float32)
    if data.draw(st.booleans()):
        image[rng.random((ny, nx)) < 0.2] = np.nan  # blank pixels inside the image
    wcs = _linear_wcs()
    positions = wcs.pixel_to_world(np.array(xs), np.array(ys))
    stack = extract_cutouts((image, wcs), positions, size=size, off_image="keep")
    assert stack.data.shape == (n, size, size)
    # the default cuts only the positions on the image, the same pixels, each mapped to its position
    on = np.flatnonzero(on_image((ny, nx), stack.xy))
    skipped = extract_cutouts((image, wcs), positions, size=size)
    np.testing.assert_array_equal(skipped.rows, on)
    np.testing.assert_array_equal(skipped.data, stack.data[on])
    assert skipped.n_skipped == n - len(on)
    for i, (x, y) in enumerate(zip(xs, ys)):
        expected, origin, outside = _direct(image, x, y, size)
        np.testing.assert_array_equal(stack.data[i], expected)
        assert bool(stack.outside[i]) == outside
        if not outside:
            assert tuple(stack.origin[i]) == origin
            inside = origin[0] >= 0 and origin[1] >= 0 and origin[0] + size <= nx and origin[1] + size <= ny
            assert bool(stack.partial[i]) == (not inside)
        assert stack.nan_fraction[i] == pytest.approx(np.isnan(expected).mean())
        np.testing.assert_allclose(stack.xy[i], [x, y], atol=1e-6)
