"""Private helpers of :mod:`radioassist.catalog`: column-name analysis, odd
unit spellings, sexagesimal parsing and the detection of position and size
columns.

Everything here works on plain Python/numpy objects; the public function
:func:`radioassist.catalog.read_catalog` turns the results into a ``SkyCoord``
and a ``Quantity``.
"""
import math
import re
from dataclasses import dataclass, field

import numpy as np
import astropy.units as u

__all__ = []  # private module

# ---------------------------------------------------------------------------
# column names
# ---------------------------------------------------------------------------

#: tokens that mark an uncertainty / error / offset column: never a position or a size
ERROR_TOKENS = frozenset({
    "e", "err", "error", "errors", "sig", "sigma", "unc", "uncert", "uncertainty",
    "std", "stddev", "rms", "offset", "off", "diff", "sep", "separation", "dist",
    "distance", "elow", "ehigh", "lo", "hi", "lower", "upper", "tot", "var",
})
#: tokens of a frame / epoch marker inside a position column name
EPOCH_TOKENS = {
    "j2000": "fk5", "2000": "fk5", "fk5": "fk5", "j2000_0": "fk5",
    "b1950": "fk4", "1950": "fk4", "fk4": "fk4",
    "icrs": "icrs",
}
#: tokens describing how a position is written (unit / format) rather than what it is
UNIT_TOKENS = frozenset({
    "deg", "degs", "degree", "degrees", "d", "hms", "dms", "h", "hr", "hrs", "hour", "hours",
    "sex", "sexa", "sexagesimal", "str", "string", "rad", "dec_deg", "decimal",
})
#: qualifiers that do not change the meaning of a position
NEUTRAL_TOKENS = frozenset({
    "cont", "pos", "position", "src", "source", "obj", "object", "sky", "world", "wcs",
    "eq", "equ", "equatorial", "coord", "coords", "j", "main", "comp", "component",
})
#: qualifiers of a secondary position (peak pixel, centroid, counterpart...)
SECONDARY_TOKENS = frozenset({
    "max", "peak", "wm", "cen", "centroid", "centre", "center", "mean", "avg", "ave",
    "opt", "optical", "ir", "host", "nvss", "first", "tgss", "ql", "image", "img", "pix",
    "pixel", "x", "y", "fit", "corr", "old", "orig", "min", "med", "median", "island",
    "isl", "lr", "id", "ref", "gaia", "sdss", "wise", "2mass", "cat",
})

_GLUED = re.compile(
    r"^(ra|dec|de|glon|glat)"
    r"(j2000|b1950|2000|1950|icrs|fk5|fk4|deg|degs|hms|dms|rad|h|d|m|s)$")

RA_HEADS = frozenset({"ra"})
DEC_HEADS = frozenset({"dec", "de", "decl"})
GLON_HEADS = frozenset({"glon", "lii"})
GLAT_HEADS = frozenset({"glat", "bii"})
#: generic longitude/latitude (Aegean names its Galactic columns lon/lat)
LON_HEADS = frozenset({"lon", "long", "longitude"})
LAT_HEADS = frozenset({"lat", "latitude"})


def normalize_name(name):
    """Lower-case, ``_``-separated form of a column name.

    Drops the ``col_`` prefix of VOTable FIELD IDs (Selavy), the leading ``_``
    of VizieR computed columns and every non-alphanumeric character, and
    rewrites spelled-out coordinate names to their short forms.
    """
    s = str(name).strip()
    s = re.sub(r"^col_(?=.)", "", s, flags=re.IGNORECASE)
    s = re.sub(r"[^0-9a-zA-Z]+", "_", s).strip("_").lower()
    s = re.sub(r"right_?ascension", "ra", s)
    s = re.sub(r"declination", "dec", s)
    s = re.sub(r"^(alpha|delta)_(j2000|b1950|icrs|sky)",
               lambda m: ("ra_" if m.group(1) == "alpha" else "dec_") + m.group(2), s)
    s = re.sub(r"(^|_)gal(?:actic)?_?(?:lon|long|longitude|l)(?=_|$)", r"\1glon", s)
    s = re.sub(r"(^|_)gal(?:actic)?_?(?:lat|latitude|b)(?=_|$)", r"\1glat", s)
    return s


def name_tokens(name):
    """Tokens of a normalised column name, with glued forms split (``raj2000``)."""
    toks = []
    for tok in normalize_name(name).split("_"):
        if not tok:
            continue
        m = _GLUED.match(tok)
        if m:
            toks.extend([m.group(1), m.group(2)])
        else:
            toks.append(tok)
    return toks


# ---------------------------------------------------------------------------
# units
# ---------------------------------------------------------------------------

SEXA_HOURS = "sexagesimal-hours"
SEXA_DEGREES = "sexagesimal-degrees"

_UNIT_ALIASES = {
    "deg": u.deg, "degs": u.deg, "degree": u.deg, "degrees": u.deg, "degreee": u.deg,
    "degr": u.deg, "dgr": u.deg, "°": u.deg,
    "arcsec": u.arcsec, "arcsecs": u.arcsec, "arcsecond": u.arcsec,
    "arcseconds": u.arcsec, "asec": u.arcsec, '"': u.arcsec, "arcs": u.arcsec,
    "arcmin": u.arcmin, "arcmins": u.arcmin, "arcminute": u.arcmin,
    "arcminutes": u.arcmin, "amin": u.arcmin, "'": u.arcmin,
    "mas": u.mas, "marcsec": u.mas, "milliarcsec": u.mas,
    "rad": u.rad, "radian": u.rad, "radians": u.rad,
    "h": u.hourangle, "hr": u.hourangle, "hrs": u.hourangle, "hour": u.hourangle,
    "hours": u.hourangle, "hourangle": u.hourangle, "hourangles": u.hourangle,
    "pix": u.pix, "pixel": u.pix, "pixels": u.pix,
    "hms": SEXA_HOURS, "h:m:s": SEXA_HOURS, "hh:mm:ss": SEXA_HOURS, "hhmmss": SEXA_HOURS,
    "hh:mm:ss.s": SEXA_HOURS, "hh mm ss": SEXA_HOURS,
    "dms": SEXA_DEGREES, "d:m:s": SEXA_DEGREES, "dd:mm:ss": SEXA_DEGREES,
    "ddmmss": SEXA_DEGREES, "dd:mm:ss.s": SEXA_DEGREES, "dd mm ss": SEXA_DEGREES,
}
_NO_UNIT = frozenset({"", "-", "--", "---", "none", "null", "dimensionless", "unitless", "n/a", "na"})


def parse_unit(unit):
    """Interpret a column unit, including spellings astropy does not know.

    Returns ``None`` for no unit / dimensionless, an astropy unit, the
    strings :data:`SEXA_HOURS` / :data:`SEXA_DEGREES` for sexagesimal format
    markers, or the original text (a ``str``) when it cannot be understood.
    """
    if unit is None:
        return None
    if isinstance(unit, u.UnitBase) and not isinstance(unit, u.UnrecognizedUnit):
        if unit == u.dimensionless_unscaled:
            return None
        if unit == u.hour:  # 'h' in a FITS/VOTable header of an RA column
            return u.hourangle
        return unit
    text = unit.name if isinstance(unit, u.UnrecognizedUnit) else str(unit)
    key = text.strip()
    if len(key) > 2:
        key = key.strip("[]()\"'{} ")
    key = key.strip().lower()
    if key in _NO_UNIT:
        return None
    if key in _UNIT_ALIASES:
        return _UNIT_ALIASES[key]
    try:
        parsed = u.Unit(key, parse_strict="silent")
    except (ValueError, TypeError):
        return text
    if isinstance(parsed, u.UnrecognizedUnit):
        return text
    if parsed == u.dimensionless_unscaled:
        return None
    if parsed == u.hour:
        return u.hourangle
    return parsed


def is_angle_unit(unit):
    return isinstance(unit, u.UnitBase) and unit.physical_type == "angle"


# ---------------------------------------------------------------------------
# sexagesimal strings
# ---------------------------------------------------------------------------

_SPLIT = re.compile(r"[\s:hHdDmMsS°'\"′″]+")


def parse_sexagesimal(value):
    """Parse one sexagesimal or decimal angle string.

    Returns ``(number, marker)``: the value in the string's own units (hours
    or degrees; NaN when unparsable) and ``'h'``, ``'d'`` or ``None`` saying
    which marker the string carried (``None``: plain ``12:34:56`` or ``12 34 56``
    or a decimal number, ``'decimal'`` for a plain number).
    """
    s = str(value).strip().replace("\u2212", "-")
    if not s or s.lower() in ("nan", "--", "null", "none"):
        return math.nan, None
    try:
        return float(s), "decimal"
    except ValueError:
        pass
    sign = 1.0
    if s[0] in "+-":
        sign = -1.0 if s[0] == "-" else 1.0
        s = s[1:].strip()
    low = s.lower()
    marker = "h" if "h" in low else ("d" if ("d" in low or "°" in s) else None)
    if re.match(r"^\d+\.\d+\.\d+(\.\d*)?$", s):  # BBS/makesourcedb '+50.57.57.51'
        d, m, rest = s.split(".", 2)
        s = f"{d}:{m}:{rest}"
    parts = [p for p in _SPLIT.split(s) if p]
    if not 1 <= len(parts) <= 3 or (len(parts) == 1 and marker is None):
        return math.nan, None
    try:
        nums = [float(p) for p in parts]
    except ValueError:
        return math.nan, None
    if any(n < 0 for n in nums) or any(n >= 60 for n in nums[1:]):
        return math.nan, None
    total = nums[0] + sum(n / 60.0 ** i for i, n in enumerate(nums[1:], start=1))
    return sign * total, marker


def string_values(col):
    """Column values as a list of ``str`` ('' for masked), decoding bytes."""
    data = np.asarray(col)
    mask = np.ma.getmaskarray(col) if hasattr(col, "mask") else np.zeros(len(data), bool)
    out = []
    for value, masked in zip(data.tolist(), mask.tolist()):
        if masked or value is None:
            out.append("")
        elif isinstance(value, bytes):
            out.append(value.decode("utf-8", "replace"))
        else:
            out.append(str(value))
    return out


def is_string_column(col):
    return np.asarray(col).dtype.kind in "USO"


def numeric_values(col):
    """Float64 values of a numeric column; masked entries become NaN."""
    if hasattr(col, "mask"):
        arr = np.ma.asarray(col).astype(np.float64).filled(np.nan)
    else:
        arr = np.asarray(getattr(col, "value", col), dtype=np.float64)
    return np.array(arr, dtype=np.float64, copy=True)


# ---------------------------------------------------------------------------
# candidates
# ---------------------------------------------------------------------------

@dataclass
class Candidate:
    name: str
    axis: str              # 'lon' or 'lat'
    system: str            # 'equatorial' or 'galactic'
    key: tuple             # pairing key (qualifier tokens)
    rank: float            # 0 best
    is_string: bool
    order: int
    frame_hint: str = None
    via: str = "name"
    tokens: list = field(default_factory=list)


def _ucd_atoms(col):
    meta = getattr(col, "meta", None) or {}
    ucd = meta.get("ucd") or ""
    return [a.strip().lower() for a in str(ucd).split(";") if a.strip()]


def ucd_position(col):
    """``(axis, system, main)`` from a column UCD, or ``None``."""
    atoms = _ucd_atoms(col)
    if not atoms:
        return None
    first = atoms[0]
    main = "meta.main" in atoms
    table = {
        "pos.eq.ra": ("lon", "equatorial"), "pos.eq.dec": ("lat", "equatorial"),
        "pos.galactic.lon": ("lon", "galactic"), "pos.galactic.lat": ("lat", "galactic"),
    }
    if first in table:
        return table[first] + (main,)
    # UCD1 (old VizieR): POS_EQ_RA_MAIN, POS_GAL_LON...
    m = re.match(r"^pos_(eq_ra|eq_dec|gal_lon|gal_lat)(_main)?$", first)
    if m:
        axis = {"eq_ra": ("lon", "equatorial"), "eq_dec": ("lat", "equatorial"),
                "gal_lon": ("lon", "galactic"), "gal_lat": ("lat", "galactic")}[m.group(1)]
        return axis + (bool(m.group(2)),)
    return None


def _split_sexagesimal_parts(colnames):
    """Names of VizieR-style split sexagesimal columns (RAh RAm RAs DE- DEd DEm DEs)."""
    norm = {normalize_name(c): c for c in colnames}
    raw = {c.lower(): c for c in colnames}
    parts = {}
    for key, names in (("rah", ("rah",)), ("ram", ("ram",)), ("ras", ("ras",)),
                       ("ded", ("ded", "decd")), ("dem", ("dem", "decm")),
                       ("des", ("des", "decs"))):
        for n in names:
            if n in norm:
                parts[key] = norm[n]
                break
    for n in ("de-", "dec-", "de_sign", "dec_sign", "sign"):
        if n in raw:
            parts["sign"] = raw[n]
            break
    if {"rah", "ram", "ded", "dem"} <= set(parts):
        return parts
    return None


def name_candidates(table):
    """Position candidates found from column names."""
    split = _split_sexagesimal_parts(table.colnames)
    skip = set(split.values()) if split else set()
    out = []
    for order, name in enumerate(table.colnames):
        if name in skip:
            continue
        col = table[name]
        if getattr(col, "ndim", 1) != 1 or not _is_plain_column(col):
            continue
        toks = name_tokens(name)
        if not toks or any(t in ERROR_TOKENS for t in toks):
            continue
        heads = [(i, t) for i, t in enumerate(toks)
                 if t in RA_HEADS | DEC_HEADS | GLON_HEADS | GLAT_HEADS | LON_HEADS | LAT_HEADS]
        if len(heads) != 1:
            continue
        pos, head = heads[0]
        if head in RA_HEADS:
            axis, system = "lon", "equatorial"
        elif head in DEC_HEADS:
            axis, system = "lat", "equatorial"
        elif head in GLON_HEADS:
            axis, system = "lon", "galactic"
        elif head in GLAT_HEADS:
            axis, system = "lat", "galactic"
        elif head in LON_HEADS:
            axis, system = "lon", "lonlat"
        else:
            axis, system = "lat", "lonlat"
        if system == "lonlat" and pos != 0:
            continue
        # 'de' alone is only a declination when it is the first token (_DE, DEJ2000)
        if head == "de" and pos != 0:
            continue
        frame_hint = "galactic" if system == "galactic" else None
        qual = []
        for i, t in enumerate(toks):
            if i == pos:
                continue
            if t in EPOCH_TOKENS:
                if system == "equatorial":
                    frame_hint = EPOCH_TOKENS[t]
                continue
            if t in UNIT_TOKENS or t in NEUTRAL_TOKENS:
                continue
            qual.append(t)
        if pos != 0:
            rank = 3.0
        elif not qual:
            rank = 0.0
        elif any(t in SECONDARY_TOKENS for t in qual):
            rank = 2.0
        else:
            rank = 1.0
        if frame_hint == "fk4":
            rank += 0.5
        out.append(Candidate(name=name, axis=axis, system=system, key=tuple(qual),
                             rank=rank, is_string=is_string_column(col), order=order,
                             frame_hint=frame_hint, tokens=toks))
    return out, split


def ucd_candidates(table):
    out = []
    for order, name in enumerate(table.colnames):
        col = table[name]
        if getattr(col, "ndim", 1) != 1 or not _is_plain_column(col):
            continue
        info = ucd_position(col)
        if info is None:
            continue
        axis, system, main = info
        out.append(Candidate(name=name, axis=axis, system=system, key=(),
                             rank=0.0 if main else 1.0, is_string=is_string_column(col),
                             order=order, via="ucd",
                             frame_hint="galactic" if system == "galactic" else None))
    return out


def _is_plain_column(col):
    """A 1-D Column / MaskedColumn / Quantity (not a mixin such as SkyCoord or Time)."""
    from astropy.table import Column
    return isinstance(col, (Column, u.Quantity))


def pair_candidates(cands):
    """All (lon, lat) pairs with a sort key; lower key is better."""
    pairs = []
    for system in ("equatorial", "galactic", "lonlat"):
        lons = [c for c in cands if c.system == system and c.axis == "lon"]
        lats = [c for c in cands if c.system == system and c.axis == "lat"]
        matched = []
        for lo in lons:
            for la in lats:
                if lo.key == la.key and (lo.via == la.via):
                    matched.append((lo, la))
        if not matched and len(lons) == 1 and len(lats) == 1:
            matched.append((lons[0], lats[0]))
        for lo, la in matched:
            sys_rank = {"equatorial": 0.0, "galactic": 0.25, "lonlat": 0.4}[system]
            key = (max(lo.rank, la.rank) + sys_rank, lo.is_string or la.is_string)
            pairs.append((key, min(lo.order, la.order), lo, la))
    pairs.sort(key=lambda p: (p[0], p[1]))
    return pairs


# ---------------------------------------------------------------------------
# size columns
# ---------------------------------------------------------------------------

_BEAM_RE = re.compile(r"psf|beam|restoring|synth|clean_?b|^b(maj|min|pa)$|^(maj|min)_?b(eam)?$")
_LAS_TOKENS = frozenset({"las", "size", "extent", "diameter", "diam", "angsize"})
_MAJOR_RE = re.compile(r"^((f|fit|dc|deconv|s)?maj(or)?(ax|axis)?|fwhm(a|maj)?)$")
_MINOR_RE = re.compile(r"^((f|fit|dc|deconv|s)?min(or)?(ax|axis)?|b)$")
_DECONV_TOKENS = frozenset({"dc", "deconv", "deconvolved", "dec", "deconvol", "intrinsic"})
_IMGPLANE_TOKENS = frozenset({"img", "plane", "image", "pix", "pixel"})
_NOT_ANGULAR_SIZE = frozenset({"lls", "kpc", "mpc", "pc", "n", "npix", "num", "solid", "area",
                               "angle", "pa", "posang", "ratio", "frac", "flag"})


@dataclass
class SizeCandidate:
    name: str
    rank: float
    order: int
    via: str = "name"


def size_candidates(table, *, family=None):
    """Columns that look like an angular source size (best first)."""
    colset = {normalize_name(c) for c in table.colnames}
    out = []
    for order, name in enumerate(table.colnames):
        col = table[name]
        if getattr(col, "ndim", 1) != 1 or not _is_plain_column(col) or is_string_column(col):
            continue
        norm = normalize_name(name)
        toks = name_tokens(name)
        if not toks or any(t in ERROR_TOKENS for t in toks) or _BEAM_RE.search(norm):
            continue
        atoms = _ucd_atoms(col)
        rank = None
        via = "name"
        if atoms:
            if atoms[0].startswith("stat.error") or any(
                    a.startswith(("instr.beam", "instr.psf", "pos.posang")) for a in atoms):
                continue
            if atoms[0].startswith("phys.angsize"):
                if "smin" in atoms[0] or "minaxis" in atoms[0]:
                    continue
                rank = 1.0
                via = "ucd"
        if rank is None:
            if any(t in _NOT_ANGULAR_SIZE or _MINOR_RE.match(t) for t in toks):
                continue
            if any(t in _LAS_TOKENS for t in toks) or "largest" in toks:
                rank = 0.0
            elif any(_MAJOR_RE.match(t) for t in toks):
                rank = 1.0
            elif toks[0] == "a" and (
                    "_".join(["b"] + toks[1:]) in colset or family == "aegean"
                    or is_angle_unit(parse_unit(getattr(col, "unit", None)))):
                rank = 1.0  # Aegean / GLEAM a, a_wide (with b, b_wide)
            else:
                continue
        if rank >= 1.0:
            if any(t in _DECONV_TOKENS or t.startswith(("dc", "deconv")) for t in toks) or any(
                    "deconv" in a for a in atoms):
                rank += 0.3
            if any(t in _IMGPLANE_TOKENS for t in toks):
                rank += 0.2
            if "fitted" in toks or "fit" in toks or any(re.match(r"^f(it)?maj", t) for t in toks):
                rank -= 0.1
        out.append(SizeCandidate(name=name, rank=rank, order=order, via=via))
    out.sort(key=lambda c: (c.rank, c.order))
    return out


# ---------------------------------------------------------------------------
# catalogue families (for unit conventions of unitless files)
# ---------------------------------------------------------------------------

#: family -> (size unit of unitless size columns, largest plausible median value)
FAMILY_SIZE_UNITS = {
    "pybdsf": (u.deg, 0.5),        # PyBDSF writes Maj/Min in degrees (ASCII: no units)
    "aegean": (u.arcsec, None),    # Aegean a/b in arcsec (FITS written without TUNIT)
    "selavy": (u.arcsec, None),    # Selavy maj_axis/min_axis in arcsec
    "first": (u.arcsec, None),     # FIRST MAJOR/MINOR/FITTED_* in arcsec
    "nvss-vizier": (u.arcsec, None),  # VizieR VIII/65 NVSS MajAxis/MinAxis in arcsec
}
#: (family, normalised column name) -> unit, where a column differs from its family
COLUMN_SIZE_UNITS = {
    ("aegean", "max_angular_size"): (u.deg, 5.0),  # Aegean island tables: degrees
}


def family_size_unit(family, name):
    """(unit, largest plausible median) of a unitless size column, or None."""
    return COLUMN_SIZE_UNITS.get((family, normalize_name(name)), FAMILY_SIZE_UNITS.get(family))


def detect_family(colnames, preamble=""):
    """Name the source-finder family of a catalogue, or ``None``."""
    names = {normalize_name(c) for c in colnames}
    text = preamble.lower()
    if re.search(r"pybdsf|pybdsm|\bbdsf\b", text):
        return "pybdsf"
    if re.search(r"\baegean\b", text):
        return "aegean"
    if re.search(r"\bselavy\b", text):
        return "selavy"
    if {"isl_id", "s_code"} <= names and names & {
            "e_maj", "dc_maj", "maj_img_plane", "isl_total_flux", "resid_isl_rms", "isl_rms"}:
        return "pybdsf"
    if ({"island", "source", "local_rms"} <= names
            or {"island", "components", "local_rms"} <= names
            or {"psf_a", "psf_b", "residual_std"} <= names):
        return "aegean"
    if ({"island_id", "component_id"} <= names or "ra_deg_cont" in names
            or {"island_id", "n_components", "maj_axis"} <= names):
        return "selavy"
    if {"fpeak", "fint"} <= names and names & {"sideprob", "fitted_major", "major", "maj", "fmaj"}:
        return "first"
    if {"s1_4", "majaxis"} <= names and "nvss" in names:
        return "nvss-vizier"
    return None
