"""
LoTSS: a mosaic and its survey catalogue, task B6
=================================================

Classify every source of the LoTSS DR1 catalogue that lies on a 400x400 cut-down of the P205+55 mosaic
(LOFAR, 144 MHz, 1.5"/px, 6" beam) with the shipped FR-I/FR-II model, and draw the result on the sky.

Command-line equivalent::

    radioassist classify ../shared/data/lotss_dr1_hetdex/P205+55-mosaic.fits \\
        --catalog ../shared/data/lotss_dr1_hetdex/catalog_shimwell_reduced.srl.fits --task B6 -o lotss_b6.ecsv

The model was trained on FIRST (1.4 GHz): the cutouts are resampled to its 1.8"/px grid, and the labels of
144 MHz sources are outside its training domain (radioassist warns once). The shipped B3 model runs first as
a gate: rows it finds no extended radio galaxy in are flagged ``not_applicable``. Rows whose 270" field runs
off the mosaic are flagged ``partial``; rows off the image ``outside``.
"""
import os
from pathlib import Path

import matplotlib.pyplot as plt
from astropy.visualization import AsinhStretch, ImageNormalize, PercentileInterval

import radioassist as ra

# the project's survey data, beside the source tree (run from the repository root)
DATA = Path(os.environ.get("RADIOASSIST_DATA", "../shared/data"))
mosaic = DATA / "lotss_dr1_hetdex" / "P205+55-mosaic.fits"
catalog = DATA / "lotss_dr1_hetdex" / "catalog_shimwell_reduced.srl.fits"

table = ra.classify(mosaic, catalog, task="B6")
flag = table["B6_flag"].filled("") if hasattr(table["B6_flag"], "filled") else table["B6_flag"]
label = table["B6_label"].filled("") if hasattr(table["B6_label"], "filled") else table["B6_label"]
print(f"{len(table):,} catalogue rows;", {f: int((flag == f).sum()) for f in ("outside", "partial", "not_applicable")},
      {lab: int(((flag == "") & (label == lab)).sum()) for lab in ("FR-I", "FR-II")})

# %%
# The mosaic with each catalogued source coloured by what happened to it.
image = ra.load_image(mosaic)
x, y = image.wcs.world_to_pixel(ra.read_catalog(table)["skycoord"])
ny, nx = image.data.shape
on = (x > -0.5) & (x < nx - 0.5) & (y > -0.5) & (y < ny - 0.5)

fig = plt.figure(figsize=(7, 6.5))
ax = fig.add_subplot(projection=image.wcs)
ax.imshow(image.data, origin="lower", cmap="gray_r",
          norm=ImageNormalize(image.data, interval=PercentileInterval(99.5), stretch=AsinhStretch(0.1)))
for value, colour, size in (("partial", "0.5", 50), ("not_applicable", "#2b8a3e", 50), ("FR-I", "#e8a33d", 160),
                            ("FR-II", "#4aa3df", 160)):
    sel = on & ((flag == value) if value in ("partial", "not_applicable") else ((flag == "") & (label == value)))
    ax.scatter(x[sel], y[sel], s=size, facecolors="none", edgecolors=colour, lw=2, label=f"{value} ({sel.sum()})")
ax.set_xlim(-0.5, nx - 0.5)
ax.set_ylim(-0.5, ny - 0.5)
ax.set(xlabel="RA", ylabel="Dec", title="LoTSS P205+55, task B6 (shipped FIRST model)")
ax.legend(loc="lower left", fontsize=8)
plt.show()
