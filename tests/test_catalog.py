"""Tests of radioassist.catalog.read_catalog: real survey catalogues and region
files (every file in shared/data/catalogues plus the LoTSS and FR-DEEP tables)
and synthetic tables for every column-name variant and failure mode."""
import re
import warnings

import numpy as np
import pytest
import astropy.units as u
from astropy.coordinates import Angle, SkyCoord
from astropy.table import QTable, Table
from astropy.wcs import WCS

from radioassist.catalog import read_catalog
from radioassist.exceptions import CatalogError, RadioassistWarning


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

def _read(path, **kwargs):
    """read_catalog, collecting RadioassistWarnings."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = read_catalog(path, **kwargs)
    ours = [w for w in caught if issubclass(w.category, RadioassistWarning)]
    return table, ours


def _sexa(ra_strings, dec_strings):
    """Independent parse of sexagesimal strings with astropy's Angle."""
    ra = Angle([s.decode() if isinstance(s, bytes) else str(s) for s in ra_strings],
               unit=u.hourangle).deg
    dec = Angle([s.decode() if isinstance(s, bytes) else str(s) for s in dec_strings],
                unit=u.deg).deg
    return SkyCoord(ra * u.deg, dec * u.deg)


_JNAME = re.compile(r"J(\d{2})(\d{2})(\d{2}(?:\.\d+)?)([+-])(\d{2})(\d{2})(\d{2}(?:\.\d+)?)")


def _from_jnames(names):
    """Positions encoded in IAU names such as 'ILTJ144318.03+540259.9' (truncated)."""
    ra, dec = [], []
    for name in names:
        name = name.decode() if isinstance(name, bytes) else str(name)
        m = _JNAME.search(name)
        h, mi, s, sign, d, dm, ds = m.groups()
        ra.append(15 * (int(h) + int(mi) / 60 + float(s) / 3600))
        v = int(d) + int(dm) / 60 + float(ds) / 3600
        dec.append(-v if sign == "-" else v)
    return SkyCoord(np.array(ra) * u.deg, np.array(dec) * u.deg)


def _meta(table):
    return table.meta["radioassist_catalog"]


def _arcsec(table):
    return table["source_size"].quantity.to_value(u.arcsec)


# ---------------------------------------------------------------------------
# real data: every file is covered
# ---------------------------------------------------------------------------

CATALOGUE_FILES = [
    "aegean/aegean_1904_comp.fits",
    "aegean/aegean_1904_incomplete_cat.csv",
    "odd/vizier_CoNFIG_II_full_Table.csv",
    "pybdsf/pybdsf_ref.srl",
    "pybdsf/pybdsf_ref.srl.FITS",
    "pybdsf/vlass_pybdsf_catenator_out.csv",
    "regions/carta_M17_regionSet1_world.crtf",
    "regions/carta_M17_regionSet1_world.reg",
    "regions/ds9v4.1_fk5.reg",
    "regions/ds9v4.1_galactic.reg",
    "regions/ds9v4.1_image.reg",
    "regions/lotss_ddf_all-sky-manual-regions.ds9.reg",
    "regions/pybdsf_ref.srl.ds9.reg",
    "regions/pyregion_ciao_format.reg",
    "selavy/askapsoft_SB2338_components.xml",
    "selavy/casda_NGC7232_islands.xml",
    "selavy/vastpipe_epoch01.selavy.components.txt",
    "selavy/vastpipe_epoch01.selavy.components.xml",
    "surveys/first_extract_vlass_cat.fits",
    "surveys/lotss_dr1_Mingo19_LoMorph_Cat.fits",
    "surveys/nvss_extract_vlass_cat.fits",
]
#: file -> (ra column, dec column, size column, frame) or an error pattern
EXPECTED = {
    "aegean/aegean_1904_comp.fits": ("ra", "dec", "a", "icrs"),
    "aegean/aegean_1904_incomplete_cat.csv": ("ra", "dec", None, "icrs"),
    "odd/vizier_CoNFIG_II_full_Table.csv": ("_RAJ2000", "_DEJ2000", None, "fk5"),
    "pybdsf/pybdsf_ref.srl": ("RA", "DEC", "Maj", "icrs"),
    "pybdsf/pybdsf_ref.srl.FITS": ("RA", "DEC", "Maj", "icrs"),
    "pybdsf/vlass_pybdsf_catenator_out.csv": ("RA", "DEC", "Maj", "icrs"),
    "regions/carta_M17_regionSet1_world.crtf": ("ra", "dec", "extent", "icrs"),
    "regions/carta_M17_regionSet1_world.reg": ("ra", "dec", "extent", "icrs"),
    "regions/ds9v4.1_fk5.reg": ("ra", "dec", "extent", "fk5"),
    "regions/ds9v4.1_galactic.reg": ("glon", "glat", "extent", "galactic"),
    "regions/ds9v4.1_image.reg": r"pixel \('image'\) coordinates; pass wcs=",
    "regions/lotss_ddf_all-sky-manual-regions.ds9.reg": ("ra", "dec", "extent", "fk5"),
    "regions/pybdsf_ref.srl.ds9.reg": ("ra", "dec", "extent", "fk5"),
    "regions/pyregion_ciao_format.reg": r"CIAO region file .* not supported",
    "selavy/askapsoft_SB2338_components.xml": ("ra_deg_cont", "dec_deg_cont", "maj_axis", "fk5"),
    "selavy/casda_NGC7232_islands.xml": ("ra_deg_cont", "dec_deg_cont", "maj_axis", "fk5"),
    "selavy/vastpipe_epoch01.selavy.components.txt": ("ra_deg_cont", "dec_deg_cont", "maj_axis",
                                                      "icrs"),
    "selavy/vastpipe_epoch01.selavy.components.xml": ("ra_deg_cont", "dec_deg_cont", "maj_axis",
                                                      "fk5"),
    "surveys/first_extract_vlass_cat.fits": ("RA", "DEC", "FITTED_MAJOR", "icrs"),
    "surveys/lotss_dr1_Mingo19_LoMorph_Cat.fits": ("RA", "DEC", "LM_dec_size", "icrs"),
    "surveys/nvss_extract_vlass_cat.fits": ("RA(2000)", "DEC(2000)", "MAJOR AX", "fk5"),
}
OTHER_FILES = {
    "lotss_dr1_hetdex/catalog_shimwell_reduced.srl.fits": ("RA", "DEC", "Maj", "icrs"),
    "frdeep_v2/catalogues/CoNFIG_II_full_Table.csv": ("_RAJ2000", "_DEJ2000", None, "fk5"),
    "frdeep_v2/catalogues/FRDEEPv2_test.csv": ("RA(J2000)", "DEC(J2000)", None, "fk5"),
    "frdeep_v2/catalogues/FRDEEPv2_train.csv": ("RA(J2000)", "DEC(J2000)", None, "fk5"),
    "frdeep_v2/catalogues/FRICAT_Table1.csv": ("_RA", "_DE", None, "icrs"),
}


_BEAM_OR_ERROR = re.compile(r"psf|beam|^bm(aj|in)$|^e_|err|sigma|_e$", re.IGNORECASE)
_OPTION_NAMED = re.compile(r"ra=|dec=|size_unit=|size=False|wcs=|format=|not supported")


def test_known_files_present(shared_data):
    for rel in CATALOGUE_FILES:
        assert (shared_data / "catalogues" / rel).is_file(), rel
    for rel in OTHER_FILES:
        assert (shared_data / rel).is_file(), rel


def test_every_file_reads_sanely_or_refuses_clearly(shared_data):
    """Every catalogue/region file present (including any added later) either reads
    with sane positions and sizes or is refused with a message naming an option."""
    paths = [p for p in sorted((shared_data / "catalogues").rglob("*"))
             if p.is_file() and p.name != "UPSTREAM.txt"]
    paths += sorted((shared_data / "frdeep_v2" / "catalogues").glob("*"))
    paths.append(shared_data / "lotss_dr1_hetdex" / "catalog_shimwell_reduced.srl.fits")
    problems = []
    for path in paths:
        try:
            table, _ = _read(path)
        except CatalogError as exc:
            if not _OPTION_NAMED.search(str(exc)):
                problems.append(f"{path.name}: unclear refusal {exc}")
            continue
        meta = _meta(table)
        if table["position_ok"].mean() < 0.5:
            problems.append(f"{path.name}: most positions invalid")
        if "source_size" in table.colnames:
            sizes = _arcsec(table)
            good = sizes[np.isfinite(sizes)]
            if meta["size_column"] and _BEAM_OR_ERROR.search(meta["size_column"]):
                problems.append(f"{path.name}: size from {meta['size_column']}")
            if good.size and not 0.1 < np.median(good) < 7200:
                problems.append(f"{path.name}: implausible sizes (median {np.median(good)}\")")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("relpath", CATALOGUE_FILES)
def test_real_catalogue_files(shared_data, relpath):
    path = shared_data / "catalogues" / relpath
    _check_file(path, EXPECTED[relpath])


@pytest.mark.parametrize("relpath", sorted(OTHER_FILES))
def test_real_other_catalogues(shared_data, relpath):
    _check_file(shared_data / relpath, OTHER_FILES[relpath])


def _check_file(path, expected):
    if isinstance(expected, str):
        with pytest.raises(CatalogError, match=expected):
            read_catalog(path)
        return
    ra, dec, size, frame = expected
    table, _ = _read(path)
    meta = _meta(table)
    assert (meta["ra_column"], meta["dec_column"], meta["size_column"], meta["frame"]) == \
        (ra, dec, size, frame)
    assert meta["source"] == str(path)
    if "/regions/" in str(path):
        assert meta["format"] == ("crtf" if path.suffix == ".crtf" else "ds9")
    assert table["position_ok"].all()
    assert isinstance(table["skycoord"], SkyCoord)
    assert np.all(np.isfinite(table["skycoord"].spherical.lat.deg))
    if size is None:
        assert "source_size" not in table.colnames
        assert meta["size_unit"] is None
    else:
        sizes = _arcsec(table)
        assert np.isfinite(sizes).any()
        assert table["source_size"].unit == u.arcsec


# --- positions and sizes checked against independent values -----------------------------

def test_aegean_fits_positions_sizes(shared_data):
    path = shared_data / "catalogues/aegean/aegean_1904_comp.fits"
    raw = Table.read(path)
    table, _ = _read(path)
    sexa = _sexa(raw["ra_str"], raw["dec_str"])
    assert np.max(table["skycoord"].separation(sexa).arcsec) < 0.1
    # a / b are in arcsec by Aegean convention; never the psf_a beam column
    sizes = _arcsec(table)
    np.testing.assert_allclose(sizes, np.asarray(raw["a"], float), rtol=1e-6)
    assert sizes[0] == pytest.approx(955.14685, rel=1e-6)
    assert _meta(table)["size_unit"] == "arcsec"
    assert not np.allclose(sizes, raw["psf_a"])
    # every original column kept, in order, same rows
    assert table.colnames[:len(raw.colnames)] == raw.colnames
    assert len(table) == len(raw) == 51


def test_aegean_incomplete_csv(shared_data):
    path = shared_data / "catalogues/aegean/aegean_1904_incomplete_cat.csv"
    table, _ = _read(path)
    sexa = _sexa(table["ra_str"], table["dec_str"])
    assert np.max(table["skycoord"].separation(sexa).arcsec) < 0.1
    assert "source_size" not in table.colnames


@pytest.mark.parametrize("relpath", ["catalogues/odd/vizier_CoNFIG_II_full_Table.csv",
                                     "frdeep_v2/catalogues/CoNFIG_II_full_Table.csv"])
def test_vizier_sexagesimal_only(shared_data, relpath):
    table, _ = _read(shared_data / relpath)
    coords = table["skycoord"]
    # '07 13 38.1500' is hours: 108.409 deg, never 7.2 deg
    assert coords[0].ra.deg == pytest.approx(15 * (7 + 13 / 60 + 38.15 / 3600), abs=1e-6)
    assert coords[0].dec.deg == pytest.approx(43 + 49 / 60 + 17.2 / 3600, abs=1e-6)
    # the other (original) pair of columns gives the same positions
    other = _sexa(table["RAJ2000"], table["DEJ2000"])
    assert np.max(coords.separation(other).arcsec) < 0.5
    assert coords.ra.deg.min() > 100  # 7h..15h: hours were converted for every row


def test_fricat_prefers_degrees(shared_data):
    table, _ = _read(shared_data / "frdeep_v2/catalogues/FRICAT_Table1.csv")
    sexa = _sexa(table["_RAJ2000"], table["_DEJ2000"])
    assert np.max(table["skycoord"].separation(sexa).arcsec) < 0.5


@pytest.mark.parametrize("split", ["train", "test"])
def test_frdeep_positions_match_image_centres(shared_data, split):
    table, _ = _read(shared_data / f"frdeep_v2/catalogues/FRDEEPv2_{split}.csv")
    manifest = Table.read(shared_data / "frdeep_v2/frdeep_v2_manifest.csv", format="ascii.csv")
    manifest = manifest[manifest["split"] == split]
    centres = SkyCoord(manifest["ra_deg"] * u.deg, manifest["dec_deg"] * u.deg)
    _, sep, _ = table["skycoord"].match_to_catalog_sky(centres)
    # image centres are the catalogue targets (manifest: <= 1.8", CRVAL rounded)
    assert np.median(sep.arcsec) < 2.0
    assert np.mean(sep.arcsec < 6.0) > 0.95


def test_pybdsf_ascii_matches_fits(shared_data):
    srl, _ = _read(shared_data / "catalogues/pybdsf/pybdsf_ref.srl")
    fits, _ = _read(shared_data / "catalogues/pybdsf/pybdsf_ref.srl.FITS")
    assert len(srl) == len(fits) == 43
    assert np.max(srl["skycoord"].separation(fits["skycoord"]).arcsec) < 1e-3
    # Maj is in degrees without units in the ASCII file: 0.0218 deg = 78.6 arcsec
    assert _meta(srl)["size_unit"] == "deg" and _meta(srl)["family"] == "pybdsf"
    np.testing.assert_allclose(_arcsec(srl), _arcsec(fits), rtol=1e-9)
    np.testing.assert_allclose(_arcsec(srl), np.asarray(fits["Maj"]) * 3600, rtol=1e-9)
    assert _arcsec(srl)[0] == pytest.approx(78.64, abs=0.01)
    assert srl.colnames[:3] == ["Source_id", "Isl_id", "RA"]


def test_vlass_pybdsf_csv_sizes_not_beam(shared_data):
    table, _ = _read(shared_data / "catalogues/pybdsf/vlass_pybdsf_catenator_out.csv")
    sizes = _arcsec(table)
    np.testing.assert_allclose(sizes, np.asarray(table["Maj"]) * 3600, rtol=1e-9)
    assert not np.allclose(sizes, np.asarray(table["BMAJ"]) * 3600)
    assert 1.0 < np.median(sizes) < 10.0  # a few arcsec at VLASS resolution
    names = _from_jnames(table["Component_name"])
    assert np.max(table["skycoord"].separation(names).arcsec) < 1.0


def test_lotss_srl_fits(shared_data):
    table, _ = _read(shared_data / "lotss_dr1_hetdex/catalog_shimwell_reduced.srl.fits")
    assert len(table) == 12093
    names = _from_jnames(table["Source_Name"])
    assert np.max(table["skycoord"].separation(names).arcsec) < 1.0
    sizes = _arcsec(table)
    np.testing.assert_allclose(sizes, np.asarray(table["Maj"]), rtol=1e-12)  # arcsec already
    assert sizes[0] == pytest.approx(6.332, abs=1e-3)
    assert 5.0 < np.median(sizes) < 15.0  # 6" beam


def test_mingo_lomorph(shared_data):
    table, _ = _read(shared_data / "catalogues/surveys/lotss_dr1_Mingo19_LoMorph_Cat.fits")
    names = _from_jnames(table["Source_Name"])
    assert np.max(table["skycoord"].separation(names).arcsec) < 1.0
    assert _arcsec(table)[0] == pytest.approx(102.8458, abs=1e-3)


def test_first_extract(shared_data):
    table, _ = _read(shared_data / "catalogues/surveys/first_extract_vlass_cat.fits")
    assert table["skycoord"][0].ra.deg == pytest.approx(225.95005165, abs=1e-8)
    sizes = _arcsec(table)
    np.testing.assert_allclose(sizes, np.asarray(table["FITTED_MAJOR"], float), rtol=1e-6)
    assert sizes.min() > 3.0  # fitted FWHM includes the 5.4" beam


def test_nvss_odd_units(shared_data):
    table, _ = _read(shared_data / "catalogues/surveys/nvss_extract_vlass_cat.fits")
    # 'RA(2000)' with TUNIT 'DEGREE'; 'MAJOR AX' in DEGREE -> arcsec, fitted incl. 45" beam
    assert table["skycoord"][0].ra.deg == pytest.approx(225.003407766272, abs=1e-9)
    sizes = _arcsec(table)
    np.testing.assert_allclose(sizes, np.asarray(table["MAJOR AX"], float) * 3600, rtol=1e-6)
    assert sizes.min() > 40.0 and np.median(sizes) < 120.0
    assert _meta(table)["size_unit"] == "deg"


@pytest.mark.parametrize("name", ["askapsoft_SB2338_components.xml", "casda_NGC7232_islands.xml",
                                  "vastpipe_epoch01.selavy.components.xml",
                                  "vastpipe_epoch01.selavy.components.txt"])
def test_selavy_degrees_agree_with_strings(shared_data, name):
    table, _ = _read(shared_data / "catalogues/selavy" / name)
    sexa = _sexa(table["ra_hms_cont"], table["dec_dms_cont"])
    # strings are rounded to 0.1 s / 1 arcsec
    assert np.max(table["skycoord"].separation(sexa).arcsec) < 2.0
    np.testing.assert_allclose(_arcsec(table), np.asarray(table["maj_axis"], float), rtol=1e-6)


def test_selavy_names_over_ids_and_txt_equal_xml(shared_data):
    xml, _ = _read(shared_data / "catalogues/selavy/askapsoft_SB2338_components.xml")
    assert "col_ra_deg_cont" not in xml.colnames and "ra_deg_cont" in xml.colnames
    assert _arcsec(xml)[0] == pytest.approx(19.4, abs=1e-4)
    txt, _ = _read(shared_data / "catalogues/selavy/vastpipe_epoch01.selavy.components.txt")
    vxml, _ = _read(shared_data / "catalogues/selavy/vastpipe_epoch01.selavy.components.xml")
    # same numbers; the VOTable says FK5 J2000 (COOSYS), the text file gives no frame (ICRS)
    assert np.max(txt["skycoord"].separation(vxml["skycoord"]).arcsec) < 0.1
    assert _meta(vxml)["frame"] == "fk5"
    np.testing.assert_allclose(_arcsec(txt), _arcsec(vxml), rtol=1e-6)
    assert txt["maj_axis"].unit == u.arcsec  # units line of the fixed-width file
    assert "comment" in txt.colnames  # trailing empty column kept


def test_selavy_explicit_string_columns(shared_data):
    path = shared_data / "catalogues/selavy/askapsoft_SB2338_components.xml"
    auto, _ = _read(path)
    strings, _ = _read(path, ra="ra_hms_cont", dec="dec_dms_cont")
    assert _meta(strings)["ra_column"] == "ra_hms_cont"
    assert np.max(auto["skycoord"].separation(strings["skycoord"]).arcsec) < 2.0


# --- region files --------------------------------------------------------------------------

def test_ds9_fk5_shapes(shared_data):
    table, warns = _read(shared_data / "catalogues/regions/ds9v4.1_fk5.reg")
    shapes = list(table["shape"])
    # 17 regions: 3 excluded ('-' ellipse, box, line) -> warned; text skipped (warned)
    assert any("excluded" in str(w.message) for w in warns)
    assert "line" not in shapes and "text" not in shapes
    assert shapes.count("point") == 7
    circle = table[shapes.index("circle")]
    assert circle["skycoord"].ra.deg == pytest.approx(202.48643)
    assert circle["source_size"] == pytest.approx(2 * 3.9640007)  # diameter
    annuli = table[table["shape"] == "circleannulus"]
    np.testing.assert_allclose(annuli["source_size"], [2 * 3.9640007, 2 * 5.946001])
    assert np.all(np.isnan(table[table["shape"] == "point"]["source_size"]))


def test_ds9_galactic_matches_fk5(shared_data):
    fk5, _ = _read(shared_data / "catalogues/regions/ds9v4.1_fk5.reg")
    gal, _ = _read(shared_data / "catalogues/regions/ds9v4.1_galactic.reg")
    assert gal["skycoord"].frame.name == "galactic"
    assert list(fk5["shape"]) == list(gal["shape"])
    sep = fk5["skycoord"].separation(gal["skycoord"]).arcsec
    assert np.max(sep) < 1.0
    ok = np.isfinite(fk5["source_size"])
    np.testing.assert_allclose(gal["source_size"][ok], fk5["source_size"][ok], rtol=0.01)


def test_ds9_image_with_wcs(shared_data):
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crpix = [400, 400]
    wcs.wcs.crval = [202.48, 47.2]
    wcs.wcs.cdelt = [-1 / 3600, 1 / 3600]
    table, _ = _read(shared_data / "catalogues/regions/ds9v4.1_image.reg", wcs=wcs)
    circle = table[list(table["shape"]).index("circle")]
    # DS9 circle(166,546,20) is 1-based: pixel (165, 545) 0-based, radius 20 px = 20"
    expected = wcs.pixel_to_world(165, 545)
    assert circle["skycoord"].separation(expected).arcsec < 1e-3
    assert circle["source_size"] == pytest.approx(40.0, rel=1e-3)
    assert len(table) == 13  # 17 shapes less 3 excluded and 1 text label


def test_lotss_hand_drawn_polygons(shared_data):
    path = shared_data / "catalogues/regions/lotss_ddf_all-sky-manual-regions.ds9.reg"
    table, _ = _read(path)
    assert len(table) == 79 and set(table["shape"]) == {"polygon"}
    # independent parse of the first polygon's vertices (unpadded '+9:08:33.77')
    text = [ln for ln in path.read_text().splitlines() if ln.startswith("polygon")]
    for row, line in ((0, text[0]), (9, text[9])):
        vals = re.findall(r"[+-]?\d+:\d+:[\d.]+", line)
        verts = _sexa(vals[0::2], vals[1::2])
        extent = max(a.separation(verts).max().arcsec for a in verts)
        assert table["source_size"][row] == pytest.approx(extent, rel=1e-6)
        assert table["skycoord"][row].separation(verts).max().arcsec <= extent
    # the '-0:01:46.948' vertices: polygons straddling Dec 0 keep their negative parts
    decs = np.array([row.dec.deg for row in table["skycoord"]])
    assert (decs < 0).any()


def test_pybdsf_region_matches_srl(shared_data):
    reg, _ = _read(shared_data / "catalogues/regions/pybdsf_ref.srl.ds9.reg")
    srl = Table.read(shared_data / "catalogues/pybdsf/pybdsf_ref.srl.FITS")
    cat = SkyCoord(srl["RA"], srl["DEC"], frame="fk5")  # the region file says fk5
    assert np.max(reg["skycoord"].separation(cat).arcsec) < 1e-3
    assert set(reg["label"]) >= {"tbdsf_process_image.in_fits_i0_s0"}
    # PyBDSF writes the FWHM as the DS9 ellipse *radius*: the drawn extent is 2 x FWHM
    np.testing.assert_allclose(reg["source_size"], 2 * np.asarray(srl["Maj_img_plane"]) * 3600,
                               rtol=1e-6)


def test_carta_crtf_and_ds9_exports_agree(shared_data):
    crtf, _ = _read(shared_data / "catalogues/regions/carta_M17_regionSet1_world.crtf")
    ds9, _ = _read(shared_data / "catalogues/regions/carta_M17_regionSet1_world.reg")
    assert len(crtf) == len(ds9) == 16
    assert np.max(crtf["skycoord"].separation(ds9["skycoord"]).arcsec) < 1.0
    assert crtf["source_size"][1] == pytest.approx(30.0324)   # centerbox side
    assert crtf["source_size"][4] == pytest.approx(2 * 20.1942)  # CARTA circle as ellipse
    assert ds9["source_size"][4] == pytest.approx(2 * 20.1942)
    assert np.isnan(crtf["source_size"][0]) and crtf["shape"][0] == "point"


def test_ciao_region_file_refused(shared_data):
    with pytest.raises(CatalogError, match="CIAO.*DS9"):
        read_catalog(shared_data / "catalogues/regions/pyregion_ciao_format.reg")


# ---------------------------------------------------------------------------
# synthetic tables
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("ra,dec,frame", [
    ("RA", "DEC", "icrs"), ("ra", "dec", "icrs"), ("RAJ2000", "DEJ2000", "fk5"),
    ("_RAJ2000", "_DEJ2000", "fk5"), ("RA_deg", "DEC_deg", "icrs"), ("RAdeg", "DEdeg", "icrs"),
    ("ra_deg_cont", "dec_deg_cont", "icrs"), ("col_ra_deg_cont", "col_dec_deg_cont", "icrs"),
    ("RA(2000)", "DEC(2000)", "fk5"), ("RA (J2000)", "Dec (J2000)", "fk5"),
    ("RA_ICRS", "DE_ICRS", "icrs"), ("ALPHA_J2000", "DELTA_J2000", "fk5"),
    ("Right Ascension", "Declination", "icrs"), ("GLON", "GLAT", "galactic"),
    ("Gal_Lon", "Gal_Lat", "galactic"), ("RAB1950", "DEB1950", "fk4"), ("_RA", "_DE", "icrs"),
    ("RA_J2000_deg", "Dec_J2000_deg", "fk5"),
])
def test_position_name_variants(ra, dec, frame):
    t = Table({"id": [1, 2], ra: [10.5, 200.25], dec: [-30.0, 45.5], "flux": [1.0, 2.0]})
    out = read_catalog(t)
    meta = _meta(out)
    assert (meta["ra_column"], meta["dec_column"], meta["frame"]) == (ra, dec, frame)
    sph = out["skycoord"].spherical
    np.testing.assert_allclose(sph.lon.deg, [10.5, 200.25])
    np.testing.assert_allclose(sph.lat.deg, [-30.0, 45.5])
    assert meta["source"] == "the given table" and meta["format"] == "table"


@pytest.mark.parametrize("name", [
    "LAS", "Maj", "DC_Maj", "maj_axis", "col_maj_axis", "a", "MajAxis", "MAJOR AX", "fMaj",
    "FWHM", "LM_dec_size", "Size", "a_wide", "FITTED_MAJOR", "maj_axis_deconv", "Maj_img_plane",
])
def test_size_name_variants(name):
    t = Table({"RA": [10.5], "DEC": [-30.0], name: [5.0]})
    t[name].unit = "arcsec"
    if name.startswith("a"):
        t["b" + name[1:]] = [3.0]
    out = read_catalog(t)
    assert _meta(out)["size_column"] == name
    assert out["source_size"].quantity[0] == 5.0 * u.arcsec


@pytest.mark.parametrize("name", ["psf_a", "BMAJ", "beam_maj", "E_Maj", "err_a", "Maj_psf",
                                  "min_axis", "PA", "LLS", "Min", "e_MajAxis", "psf_maj_axis"])
def test_size_never_beam_error_or_minor(name):
    t = Table({"RA": [10.5], "DEC": [-30.0], name: [5.0]})
    t[name].unit = "arcsec"
    out = read_catalog(t)
    assert _meta(out)["size_column"] is None
    assert "source_size" not in out.colnames


def test_size_prefers_source_over_beam_and_deconvolved():
    t = Table({"RA": [1.0], "DEC": [2.0], "BMAJ": [0.002], "E_Maj": [0.0001], "DC_Maj": [0.001],
               "Maj": [0.0015], "psf_a": [9.0]})
    for c in ("BMAJ", "E_Maj", "DC_Maj", "Maj"):
        t[c].unit = "deg"
    out = read_catalog(t)
    assert _meta(out)["size_column"] == "Maj"
    assert out["source_size"].quantity[0].to_value(u.arcsec) == pytest.approx(5.4)


@pytest.mark.parametrize("ra,dec", [
    ("12:34:56.7", "-12:34:56.7"), ("12 34 56.7", "-12 34 56.7"),
    ("12h34m56.7s", "-12d34m56.7s"), (b"12:34:56.7", b"-12:34:56.7"),
])
def test_sexagesimal_strings_are_hours(ra, dec):
    t = Table({"RA": [ra, "00:00:00"], "DEC": [dec, "-00:30:00"]})
    out = read_catalog(t)
    c = out["skycoord"]
    assert c[0].ra.deg == pytest.approx(15 * (12 + 34 / 60 + 56.7 / 3600))
    assert c[0].dec.deg == pytest.approx(-(12 + 34 / 60 + 56.7 / 3600))
    assert c[1].dec.deg == pytest.approx(-0.5)  # sign of a zero-degree declination


def test_sexagesimal_with_degree_unit_still_hours():
    t = Table({"RAJ2000": ["10 00 00.0"], "DEJ2000": ["+10 00 00"]})
    t["RAJ2000"].unit = "deg"  # mislabelled, as some exports do
    out = read_catalog(t)
    assert out["skycoord"][0].ra.deg == pytest.approx(150.0)


def test_degrees_preferred_over_strings():
    t = Table({"ra_str": ["01:00:00"], "dec_str": ["+10:00:00"], "ra": [15.0001], "dec": [10.0]})
    assert _meta(read_catalog(t))["ra_column"] == "ra"


@pytest.mark.parametrize("unit,values,expected", [
    ("DEGREE", [150.0], 150.0), ("DEGREEE", [150.0], 150.0), ("deg", [150.0], 150.0),
    ("h", [10.0], 150.0), ("hourangle", [10.0], 150.0), ("rad", [np.pi / 2], 90.0),
    ("[deg]", [150.0], 150.0), (None, [150.0], 150.0),
])
def test_position_units(unit, values, expected):
    t = Table({"RA": values, "DEC": [1.0]})
    t["RA"].unit = u.Unit(unit, parse_strict="silent") if unit else None
    out = read_catalog(t)
    assert out["skycoord"][0].ra.deg == pytest.approx(expected)


def test_position_unit_not_angle():
    t = Table({"RA": [10.0], "DEC": [1.0]})
    t["RA"].unit = "Jy"
    with pytest.raises(CatalogError, match="not an angle"):
        read_catalog(t)


def test_size_units_and_odd_spellings():
    t = Table({"RA": [1.0], "DEC": [2.0], "MAJOR": [0.01]})
    t["MAJOR"].unit = u.Unit("DEGREE", parse_strict="silent")
    out = read_catalog(t)
    assert out["source_size"].quantity[0].to_value(u.arcsec) == pytest.approx(36.0)
    assert _meta(out)["size_unit"] == "deg"


def test_unitless_size_refused_with_hint():
    t = Table({"RA": [1.0], "DEC": [2.0], "Maj": [3.0]})
    with pytest.raises(CatalogError, match=r"'Maj'.*no unit.*size_unit=.*size=False"):
        read_catalog(t)
    out = read_catalog(t, size_unit="arcmin")
    assert out["source_size"].quantity[0] == 180 * u.arcsec
    assert _meta(out)["size_unit"] == "arcmin"
    out = read_catalog(t, size=False)
    assert "source_size" not in out.colnames and _meta(out)["size_column"] is None


def test_size_unit_must_be_angle():
    t = Table({"RA": [1.0], "DEC": [2.0], "Maj": [3.0]})
    with pytest.raises(CatalogError, match="size_unit"):
        read_catalog(t, size_unit="Jy")


def test_pybdsf_convention_guards_against_arcsec():
    # PyBDSF-like columns without units but values in arcsec (e.g. a LoTSS CSV export)
    t = Table({"Source_id": [0, 1], "Isl_id": [0, 1], "RA": [1.0, 1.1], "DEC": [2.0, 2.1],
               "Maj": [6.3, 8.0], "E_Maj": [0.1, 0.1], "DC_Maj": [0.0, 3.0], "S_Code": ["S", "S"]})
    with pytest.raises(CatalogError, match="too large.*size_unit="):
        read_catalog(t)
    t["Maj"] = [0.002, 0.003]
    out = read_catalog(t)
    np.testing.assert_allclose(out["source_size"], [7.2, 10.8])


def test_size_in_pixels_needs_wcs():
    t = Table({"RA": [1.0], "DEC": [2.0], "size": [10.0]})
    t["size"].unit = "pix"
    with pytest.raises(CatalogError, match="pixels; pass wcs="):
        read_catalog(t, size="size")
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---SIN", "DEC--SIN"]
    wcs.wcs.cdelt = [-1.5 / 3600, 1.5 / 3600]
    out = read_catalog(t, size="size", wcs=wcs)
    assert out["source_size"].quantity[0].to_value(u.arcsec) == pytest.approx(15.0)


def test_explicit_columns_override_detection():
    t = Table({"RA": [10.0], "DEC": [20.0], "x_ra": [30.0], "x_dec": [40.0], "LAS": [1.0],
               "big": [2.0]})
    t["LAS"].unit = "arcsec"
    out = read_catalog(t, ra="x_ra", dec="x_dec", size="big", size_unit="arcmin")
    assert out["skycoord"][0].ra.deg == pytest.approx(30.0)
    assert out["source_size"].quantity[0] == 120 * u.arcsec
    meta = _meta(out)
    assert (meta["ra_column"], meta["dec_column"], meta["size_column"]) == ("x_ra", "x_dec", "big")


def test_explicit_one_column_pairs_the_other():
    t = Table({"RA": [10.0], "DEC": [20.0], "RA_peak": [10.1]})
    out = read_catalog(t, ra="RA_peak")
    assert (_meta(out)["ra_column"], _meta(out)["dec_column"]) == ("RA_peak", "DEC")


@pytest.mark.parametrize("kwargs,pattern", [
    (dict(ra="nope", dec="DEC"), r"ra='nope' is not a column.*'RA', 'DEC'"),
    (dict(size="nope"), r"size='nope' is not a column"),
])
def test_explicit_missing_columns(kwargs, pattern):
    t = Table({"RA": [10.0], "DEC": [20.0]})
    with pytest.raises(CatalogError, match=pattern):
        read_catalog(t, **kwargs)


def test_no_coordinate_columns():
    t = Table({"name": ["a"], "x": [1.0], "y": [2.0]})
    with pytest.raises(CatalogError, match=r"could not recognise.*'name', 'x', 'y'.*ra= and dec="):
        read_catalog(t)


def test_ambiguous_positions():
    t = Table({"RA_1": [10.0], "DEC_1": [20.0], "RA_2": [50.0], "DEC_2": [-20.0]})
    with pytest.raises(CatalogError, match=r"ambiguous.*'RA_1'/'DEC_1'.*ra= and dec="):
        read_catalog(t)
    # equally good columns that agree are not ambiguous
    t = Table({"RAJ2000": ["01 00 00.00"], "DEJ2000": ["+10 00 00.0"],
               "_RAJ2000": ["01 00 00.0000"], "_DEJ2000": ["+10 00 00.000"]})
    assert read_catalog(t)["skycoord"][0].ra.deg == pytest.approx(15.0)


def test_bad_positions_flagged_and_kept():
    t = Table({"RA": [10.0, np.nan, 20.0, 30.0, 400.0], "DEC": [1.0, 2.0, 95.0, -3.0, 4.0]})
    with pytest.warns(RadioassistWarning, match=r"3 of 5 rows .*rows 1, 2, 4"):
        out = read_catalog(t)
    assert len(out) == 5
    assert list(out["position_ok"]) == [True, False, False, True, False]
    assert np.isnan(out["skycoord"][1].ra.deg)
    assert out["RA"][4] == 400.0  # original column untouched


def test_masked_and_garbage_strings_flagged():
    t = Table({"RA": ["01:00:00", "", "garbage"], "DEC": ["+10:00:00", "+10:00:00", "+1:0:0"]},
              masked=True)
    t["RA"].mask = [False, True, False]
    with pytest.warns(RadioassistWarning, match="2 of 3 rows"):
        out = read_catalog(t)
    assert list(out["position_ok"]) == [True, False, False]


def test_no_valid_position_is_an_error():
    t = Table({"RA": [np.nan, np.nan], "DEC": [1.0, 2.0]})
    with pytest.raises(CatalogError, match="no row .* valid position"):
        read_catalog(t)


def test_empty_table_is_an_error():
    with pytest.raises(CatalogError, match="no rows"):
        read_catalog(Table({"RA": np.array([], float), "DEC": np.array([], float)}))


def test_table_input_not_modified_and_qtable():
    t = Table({"RA": [10.0], "DEC": [20.0], "Maj": [5.0]})
    t["Maj"].unit = "arcsec"
    out = read_catalog(t)
    assert t.colnames == ["RA", "DEC", "Maj"] and "radioassist_catalog" not in t.meta
    assert out.colnames == ["RA", "DEC", "Maj", "skycoord", "position_ok", "source_size"]
    q = QTable({"ra": [10.0] * u.deg, "dec": [20.0] * u.deg, "LAS": [0.5] * u.arcmin})
    out = read_catalog(q)
    assert isinstance(out, QTable)
    assert out["source_size"][0] == 30 * u.arcsec


def test_skycoord_column_is_used():
    t = Table({"name": ["a", "b"]})
    t["pos"] = SkyCoord([10, 20] * u.deg, [1, 2] * u.deg, frame="galactic")
    out = read_catalog(t)
    assert _meta(out)["ra_column"] == "pos" and _meta(out)["frame"] == "galactic"


def test_frame_option_and_conflicts():
    t = Table({"RA": [10.0], "DEC": [20.0]})
    assert _meta(read_catalog(t, frame="fk5"))["frame"] == "fk5"
    with pytest.raises(CatalogError, match="frame='galactic' conflicts"):
        read_catalog(t, frame="galactic")
    g = Table({"GLON": [10.0], "GLAT": [20.0]})
    with pytest.raises(CatalogError, match="conflicts"):
        read_catalog(g, frame="icrs")
    x = Table({"lon_x": [10.0], "lat_y": [20.0]})
    out = read_catalog(x, ra="lon_x", dec="lat_y", frame="galactic")
    assert out["skycoord"].frame.name == "galactic"


def test_vizier_split_sexagesimal():
    t = Table({"RAh": [1, 23], "RAm": [30, 59], "RAs": [0.0, 59.9], "DE-": ["-", "+"],
               "DEd": [0, 45], "DEm": [30, 0], "DEs": [0.0, 1.0]})
    out = read_catalog(t)
    c = out["skycoord"]
    assert c[0].ra.deg == pytest.approx(22.5) and c[0].dec.deg == pytest.approx(-0.5)
    assert c[1].dec.deg == pytest.approx(45 + 1 / 3600)


# --- files of every kind ------------------------------------------------------------------

def test_csv_with_comment_lines(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("# exported by someone\n# another comment\nra,dec,LAS\n10.5,20.1,3\n11,21,4\n")
    out, _ = _read(path, size_unit="arcsec")
    assert len(out) == 2 and _meta(out)["format"] == "csv"
    assert out["skycoord"][1].ra.deg == 11.0


def test_csv_with_commented_header(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("# Source list\n\n# Source_id, RA, DEC\n0, 10.5, 20.1\n1, 11.0, 21.0\n")
    out, _ = _read(path)
    assert out.colnames[:3] == ["Source_id", "RA", "DEC"]
    assert out["skycoord"][1].dec.deg == 21.0


def test_pybdsf_style_ascii(tmp_path):
    path = tmp_path / "img.pybdsf.srl"
    path.write_text("# Source list for img\n# Generated by PyBDSF version 1.10\n"
                    "# Reference frequency of the detection (\"ch0\") image: 1.4e9 Hz\n"
                    "# Equinox : 2000.0 \n\n"
                    "# Source_id Isl_id RA E_RA DEC E_DEC Maj E_Maj S_Code\n"
                    "   0    0 150.0 0.0001 2.0 0.0001 0.002 0.0001 S\n"
                    "   1    0 150.1 0.0001 2.1 0.0001 0.001 0.0001 M\n")
    out, _ = _read(path)
    np.testing.assert_allclose(out["source_size"], [7.2, 3.6])
    assert _meta(out)["family"] == "pybdsf"


def test_vizier_tsv_units_and_dashes(tmp_path):
    path = tmp_path / "asu.tsv"
    path.write_text("#RESOURCE=yCat\n#Title: test\nRAJ2000\tDEJ2000\tMajAxis\tName\n"
                    "\"h:m:s\"\t\"d:m:s\"\tarcsec\t\n"
                    "-----------\t-----------\t-----\t----\n"
                    "10 00 00.0\t+10 00 00\t45.5\tA\n11 00 00.0\t-10 00 00\t\tB\n")
    out, _ = _read(path)
    assert out["skycoord"][0].ra.deg == pytest.approx(150.0)
    assert out["source_size"][0] == pytest.approx(45.5) and np.isnan(out["source_size"][1])


def test_ecsv_round_trip_uses_skycoord(tmp_path):
    t = Table({"RA": ["01:00:00", "02:00:00"], "DEC": ["+10:00:00", "-10:00:00"],
               "LAS": [3.0, 4.0]})
    t["LAS"].unit = "arcsec"
    out = read_catalog(t)
    path = tmp_path / "out.ecsv"
    out.write(path)
    again, _ = _read(path)
    assert _meta(again)["ra_column"] == "skycoord"
    assert np.max(again["skycoord"].separation(out["skycoord"]).arcsec) < 1e-6
    np.testing.assert_allclose(again["source_size"], out["source_size"])


def test_votable_and_fits_files(tmp_path):
    t = Table({"RAJ2000": [10.0, 20.0], "DEJ2000": [-5.0, 5.0], "Maj": [1.0, 2.0]})
    t["Maj"].unit = "arcmin"
    t["RAJ2000"].unit = "deg"
    for name, fmt in (("t.vot", "votable"), ("t.fits", "fits")):
        t.write(tmp_path / name, format=fmt)
        out, _ = _read(tmp_path / name)
        np.testing.assert_allclose(out["source_size"], [60.0, 120.0])
        assert _meta(out)["frame"] == "fk5"


def test_missing_file_and_bad_input(tmp_path):
    with pytest.raises(CatalogError, match="not found"):
        read_catalog(tmp_path / "nope.fits")
    with pytest.raises(CatalogError, match="cannot read a catalogue from a int"):
        read_catalog(42)
    (tmp_path / "junk.fits").write_bytes(b"not a fits file at all" * 10)
    with pytest.raises(CatalogError, match="cannot read .*junk.fits"):
        read_catalog(tmp_path / "junk.fits")


# --- synthetic region files ----------------------------------------------------------------

DS9_WITH_GARBAGE = """# Region file format: DS9 version 4.1
global color=green
fk5
circle(202.48643,47.208449,3.9640007") # text={one}
circle(202.4,47.2,garbage")
ellipse(202.48247,47.204704,7.9280014",3.9640007",2.3983109) # text={two}
box(202.47,47.20,10",20",0)
point(202.49809,47.200401)
line(202.46778,47.194329,202.4614,47.194158)
# text(202.45846,47.189099) text={Region}
-circle(202.5,47.3,5")
galactic
circle(104.8,68.5,2")
"""


def test_ds9_garbage_line_skipped(tmp_path):
    path = tmp_path / "bad.reg"
    path.write_text(DS9_WITH_GARBAGE)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = read_catalog(path)
    messages = " | ".join(str(w.message) for w in caught if w.category is RadioassistWarning)
    assert "line 5 'circle(202.4,47.2,garbage\")'" in messages
    assert "1 excluded region" in messages
    assert re.search(r"skipped 2 region\(s\) that do not mark a source.*line.*text", messages)
    assert list(out["shape"]) == ["circle", "ellipse", "rectangle", "point", "circle"]
    assert list(out["label"][:2]) == ["one", "two"]
    np.testing.assert_allclose(out["source_size"][:3], [7.9280014, 7.9280014 * 2, 20.0])
    # the galactic circle is placed correctly after the frame change
    gal = SkyCoord(104.8 * u.deg, 68.5 * u.deg, frame="galactic")
    assert out["skycoord"][4].separation(gal).arcsec < 1e-3


def test_crtf_garbage_line_skipped(tmp_path):
    path = tmp_path / "bad.crtf"
    path.write_text("#CRTFv0 CASA Region Text Format version 0\n"
                    "circle [[10.0deg, 20.0deg], 5arcsec] coord=ICRS\n"
                    "circle [[10.0deg, nonsense], 5arcsec] coord=ICRS\n"
                    "ellipse [[11.0deg, 21.0deg], [4arcsec, 2arcsec], 0deg] coord=ICRS\n")
    with pytest.warns(RadioassistWarning, match="line 3"):
        out = read_catalog(path)
    assert len(out) == 2
    np.testing.assert_allclose(out["source_size"], [10.0, 8.0])


def test_pixel_regions_need_wcs(tmp_path):
    path = tmp_path / "img.reg"
    path.write_text("image\ncircle(10,10,3)\n")
    with pytest.raises(CatalogError, match=r"pass wcs=.*--image"):
        read_catalog(path)


def test_not_a_region_file(tmp_path):
    path = tmp_path / "empty.reg"
    path.write_text("# nothing here\nhello world\n")
    with pytest.raises(CatalogError, match="no region could be read"), \
            pytest.warns(RadioassistWarning, match="hello world"):
        read_catalog(path)


def test_regions_object_input():
    from regions import CircleSkyRegion, Regions
    regs = Regions([CircleSkyRegion(SkyCoord(1 * u.deg, 2 * u.deg), 3 * u.arcsec)])
    out = read_catalog(regs)
    assert out["source_size"][0] == pytest.approx(6.0)
    assert _meta(out)["source"] == "<Regions>"


def test_ucd_meta_main_preferred():
    t = Table({"ra_hms": ["10:00:00"], "dec_dms": ["+10:00:00"], "alpha": [150.001],
               "delta": [10.0], "RA": [1.0], "DEC": [2.0]})
    for name, ucd in (("ra_hms", "pos.eq.ra"), ("dec_dms", "pos.eq.dec"),
                      ("alpha", "pos.eq.ra;meta.main"), ("delta", "pos.eq.dec;meta.main"),
                      ("RA", "stat.error;pos.eq.ra"), ("DEC", "stat.error;pos.eq.dec")):
        t[name].meta["ucd"] = ucd
    meta = _meta(read_catalog(t))
    assert (meta["ra_column"], meta["dec_column"]) == ("alpha", "delta")


def test_ucd_galactic_and_size():
    t = Table({"l": [10.0], "b": [1.0], "w": [2.0], "w_err": [0.1]})
    t["l"].meta["ucd"] = "pos.galactic.lon"
    t["b"].meta["ucd"] = "pos.galactic.lat"
    t["w"].meta["ucd"] = "phys.angSize.smajAxis;em.radio"
    t["w"].unit = "arcmin"
    out = read_catalog(t)
    meta = _meta(out)
    assert (meta["ra_column"], meta["frame"], meta["size_column"]) == ("l", "galactic", "w")
    assert out["source_size"][0] == pytest.approx(120.0)


def test_aegean_island_table_uses_degrees(tmp_path):
    path = tmp_path / "out_isle.csv"
    path.write_text("island,components,background,local_rms,ra_str,dec_str,ra,dec,peak_flux,"
                    "int_flux,x_width,y_width,max_angular_size,pa,pixels,area,flags,uuid\n"
                    "1,2,0.0,0.01,10:00:00,+10:00:00,150.0,10.0,1.0,2.0,5,6,0.02,10.0,30,1e-4,0,x\n")
    out = read_catalog(path)
    assert _meta(out)["family"] == "aegean"
    assert out["source_size"][0] == pytest.approx(72.0)  # Aegean islands: degrees


def test_gzipped_csv(tmp_path):
    import gzip
    path = tmp_path / "c.csv.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("# comment\nRAJ2000,DEJ2000\n10 00 00,+10 00 00\n")
    out = read_catalog(path)
    assert out["skycoord"][0].ra.deg == pytest.approx(150.0)


def test_sexagesimal_degrees_recognised():
    t = Table({"RA": ["150:30:00", "200:00:00", "10:00:00"], "DEC": ["+10:00:00"] * 3})
    with pytest.warns(RadioassistWarning, match="read as degrees"):
        out = read_catalog(t)
    np.testing.assert_allclose(out["skycoord"].ra.deg, [150.5, 200.0, 10.0])
    # a lone hour value >= 24 among hours is flagged, not read as degrees
    t = Table({"RA": ["10:00:00", "11:00:00", "30:00:00"], "DEC": ["+10:00:00"] * 3})
    with pytest.warns(RadioassistWarning, match="1 of 3 rows"):
        out = read_catalog(t)
    assert list(out["position_ok"]) == [True, True, False]


def test_degree_columns_are_read_without_unit_suggestions(tmp_path, monkeypatch):
    """Position units are compared as units, never parsed from marker strings (astropy's slow
    'did you mean' search cost ~20 ms a column on every classify call)."""
    import astropy.units.format.base as unit_format

    searched = []
    real = unit_format.did_you_mean

    def spy(*args, **kwargs):  # astropy swallows errors raised here (Unit == str): record instead
        searched.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(unit_format, "did_you_mean", spy)
    table = Table({"ra": [150.0, 150.1] * u.deg, "dec": [2.0, 2.1] * u.deg, "name": ["a", "b"]})
    for name, fmt in (("cat.vot", "votable"), ("cat.fits", "fits"), ("cat.ecsv", "ascii.ecsv")):
        table.write(tmp_path / name, format=fmt)
        got = read_catalog(tmp_path / name)
        np.testing.assert_allclose(got["skycoord"].ra.deg, [150.0, 150.1])
    got = read_catalog(table)
    np.testing.assert_allclose(got["skycoord"].dec.deg, [2.0, 2.1])
    assert searched == []
