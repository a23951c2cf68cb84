"""The shared parameter validators (``radioassist._parameters``): values accepted, and errors naming the
parameter and its command-line option."""
import numpy as np
import pytest
from astropy import units as u

from radioassist._parameters import (CHUNK_BATCHES, MAX_CUTOUT_SIZE, as_angle, as_batch_size, as_chunk_size,
                                     as_coverage, as_parallel, as_positive_int, as_preset, as_size, as_size_rule,
                                     check_size_choice, size_in_pixels)
from radioassist.exceptions import InputError
from radioassist.render import PRESETS


@pytest.mark.parametrize(("value", "expected"), [
    (None, None), (64, 64), (np.int16(64), 64), (64.0, 64), ("64", 64), (" 64 ", 64), ("6.4e1", 64),
    (64 * u.pix, 64), (u.Quantity(64), 64), (MAX_CUTOUT_SIZE, MAX_CUTOUT_SIZE),
])
def test_size_in_pixels_is_an_int(value, expected):
    size = as_size(value)
    assert size == expected and (size is None or type(size) is int)


@pytest.mark.parametrize(("value", "expected"), [
    (90 * u.arcsec, 90 * u.arcsec), ("90arcsec", 90 * u.arcsec), (" 1.5 arcmin", 1.5 * u.arcmin),
    ("0.01deg", 0.01 * u.deg),
])
def test_size_as_an_angle_is_kept(value, expected):
    size = as_size(value)
    assert isinstance(size, u.Quantity) and size.unit == expected.unit and size == expected


@pytest.mark.parametrize(("value", "message"), [
    (0, r"size \(--size\) must be a positive number of pixels \(e.g. 128\) or an angle .*, got 0$"),
    (-5, "got -5$"), ("-5", "got '-5'$"), (10.5, "got 10.5$"), (True, "got True$"), ([8], r"got \[8\]$"),
    (np.nan, "got nan$"), ("abc", "got 'abc'$"), ("5kg", "got '5kg', which is not an angle$"),
    (3 * u.m, "got 3.0 m, which is not an angle$"), (-5 * u.arcsec, "got -5.0 arcsec$"),
    (np.inf * u.deg, "got inf deg$"), ([1, 2] * u.arcsec, "got <Quantity"),
    (MAX_CUTOUT_SIZE + 1, rf"size \(--size\) is {MAX_CUTOUT_SIZE + 1} pixels, more than the maximum "),
])
def test_bad_sizes(value, message):
    with pytest.raises(InputError, match=message):
        as_size(value)


def test_size_error_names_the_parameter_given():
    with pytest.raises(InputError, match=r"^min_size \(--min-size\) must be a positive number of pixels"):
        as_size("0", name="min_size")


def test_size_in_pixels():
    assert size_in_pixels(32, 2 * u.arcsec) == 32
    assert size_in_pixels("21arcsec", 2 * u.arcsec) == 10  # 10.5 pixels, rounded half to even
    assert size_in_pixels(1 * u.arcmin, 1.5 * u.arcsec) == 40
    with pytest.raises(InputError, match=r"size \(--size\) = 0.5 arcsec is less than one pixel"):
        size_in_pixels(0.5 * u.arcsec, 2 * u.arcsec)
    with pytest.raises(InputError, match=r"size \(--size\) = 5.0 deg is 9000 pixels, more than the maximum 8192"):
        size_in_pixels(5 * u.deg, 2 * u.arcsec)
    with pytest.raises(InputError, match=r"size \(--size\) is required"):
        size_in_pixels(None, 2 * u.arcsec)


def test_size_rule():
    assert as_size_rule() == {}
    rule = as_size_rule(3, "20arcsec", 2 * u.arcmin)
    assert rule == {"size_factor": 3.0, "min_size": 20 * u.arcsec, "max_size": 2 * u.arcmin}
    assert type(rule["size_factor"]) is float
    assert as_size_rule("2.5", min_size=12) == {"size_factor": 2.5, "min_size": 12}  # limits may be pixels
    assert as_size_rule(2, 10 * u.arcsec, 8) == {"size_factor": 2.0, "min_size": 10 * u.arcsec, "max_size": 8}


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(size_factor=0), r"size_factor \(--size-factor\) must be a positive number .*got 0$"),
    (dict(size_factor=-1.5), "got -1.5$"), (dict(size_factor="x"), "got 'x'$"),
    (dict(size_factor=np.inf), "got inf$"), (dict(size_factor=True), "got True$"),
    (dict(size_factor=2, min_size="0arcsec"), r"min_size \(--min-size\) must be a positive"),
    (dict(size_factor=2, max_size="5kg"), r"max_size \(--max-size\) must be .* which is not an angle"),
    (dict(min_size="20arcsec"), r"min_size \(--min-size\) and max_size \(--max-size\) only apply with "
                                r"size_factor \(--size-factor\)"),
    (dict(max_size=40), "only apply with size_factor"),
    (dict(size_factor=2, min_size="2arcmin", max_size="60arcsec"),
     r"max_size \(--max-size, 60.0 arcsec\) is smaller than min_size \(--min-size, 2.0 arcmin\)"),
    (dict(size_factor=2, min_size=30, max_size=20), r"max_size \(--max-size, 20\) is smaller"),
])
def test_bad_size_rules(kwargs, message):
    with pytest.raises(InputError, match=message):
        as_size_rule(**kwargs)


def test_size_choice():
    check_size_choice(None, {"size_factor": 2.0})
    check_size_choice(32, {"size_factor": 2.0})  # the output side of the resampled cutouts
    check_size_choice(30 * u.arcsec, {})
    with pytest.raises(InputError, match=r"with size_factor \(--size-factor\), size \(--size\) is the output side "
                                         r"in pixels .*got 30.0 arcsec"):
        check_size_choice(30 * u.arcsec, {"size_factor": 2.0})


def test_angle():
    assert as_angle(None, name="resample_to") is None
    angle = as_angle("0.03arcmin", name="resample_to")
    assert angle.unit == u.arcsec and angle.value == pytest.approx(1.8)
    for bad in (3, "3", 3 * u.m, -1 * u.arcsec, "nan arcsec", [1, 2] * u.arcsec):
        with pytest.raises(InputError, match=r"^resample_to \(--resample-to\) must be a positive angle"):
            as_angle(bad, name="resample_to")


def test_positive_int():
    assert as_positive_int(3, "epochs") == 3 and type(as_positive_int(np.int64(3), "epochs")) is int
    for bad in (0, -1, 2.0, "3", True, None):
        with pytest.raises(InputError, match=rf"^epochs \(--epochs\) must be a positive integer, got {bad!r}$"):
            as_positive_int(bad, "epochs")
    with pytest.raises(InputError, match=r"^n \(-n\) must be"):
        as_positive_int(0, "n", option="-n")


def test_batch_and_chunk_size():
    assert as_batch_size(512) == 512
    with pytest.raises(InputError, match=r"^batch_size \(--batch-size\) must be a positive integer, got 0$"):
        as_batch_size(0)
    assert as_chunk_size(None, 100) == CHUNK_BATCHES * 100
    assert as_chunk_size(250, 100) == 300  # whole batches
    assert as_chunk_size(100, 100) == 100
    with pytest.raises(InputError, match=r"^chunk_size \(--chunk-size\) must be a positive integer, got -1$"):
        as_chunk_size(-1, 100)


def test_parallel():
    assert as_parallel(None, None) == (None, None)
    assert as_parallel(" tcp://host:8786 ", None) == ("tcp://host:8786", None)
    assert as_parallel(None, np.int32(4)) == (None, 4)
    client = object()  # a distributed.Client goes through untouched
    assert as_parallel(client, None)[0] is client
    with pytest.raises(InputError, match=r"give scheduler= \(--scheduler, .*\) or workers= \(--workers, .*\), "
                                         r"not both"):
        as_parallel("tcp://host:8786", 2)
    with pytest.raises(InputError, match=r"^workers \(--workers\) must be a positive integer, got 0$"):
        as_parallel(None, 0)
    with pytest.raises(InputError, match=r"^scheduler \(--scheduler\) must be the address of a dask scheduler"):
        as_parallel("  ", None)


def test_preset():
    for name in PRESETS:
        assert as_preset(name) == name
    assert as_preset(" Radio_LLaVA ") == "radio-llava" and as_preset("SIGMA CLIP") == "sigma-clip"
    for bad in ("sepia", None, 3):
        with pytest.raises(InputError, match=rf"^preset \(--preset\) must be a render preset, got {bad!r}; "
                                             rf"available presets: {', '.join(PRESETS)}$"):
            as_preset(bad)


def test_coverage():
    assert as_coverage(None) is None
    assert as_coverage(0) == 0.0 and as_coverage("0.5") == 0.5 and as_coverage(1) == 1.0
    for bad in (-0.1, 1.01, "half", True, np.nan):
        with pytest.raises(InputError, match=r"^min_coverage \(--min-coverage\) must be a number from 0 to 1"):
            as_coverage(bad)
    with pytest.raises(InputError, match=r"^coverage \(--coverage\) must be a number from 0 to 1"):
        as_coverage(2, name="coverage", option="--coverage")
