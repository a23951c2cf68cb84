"""
MAGPIS: a Galactic-plane image in Galactic coordinates (task B3)
================================================================

The MAGPIS 20 cm image around G10.5+0.0 has a Galactic (GLON/GLAT) WCS. Sources found on it get Galactic
positions (``glon``, ``glat``) and are cut out in that frame; task B3 asks whether each is an extended
radio galaxy. In the Galactic plane most extended emission is H II regions and supernova remnants, which
the FIRST-trained model has not seen: its YES here means "extended", not "radio galaxy".
"""
import os
from pathlib import Path

import matplotlib.pyplot as plt
from astropy.visualization import AsinhStretch, ImageNormalize, PercentileInterval

import radioassist as ra

# the project's survey data, beside the source tree (run from the repository root)
DATA = Path(os.environ.get("RADIOASSIST_DATA", "../shared/data"))
image = ra.load_image(DATA / "astroquery_first_magpis" / "magpis_G10.5+0.0.fits")
print(image)

table = ra.classify(image, task="B3")
print(table.colnames[:4], len(table), "sources")

# %%
fig = plt.figure(figsize=(6, 5.5))
ax = fig.add_subplot(projection=image.wcs)
ax.imshow(image.data, origin="lower", cmap="gray_r",
          norm=ImageNormalize(image.data, interval=PercentileInterval(99.5), stretch=AsinhStretch(0.1)))
x, y = image.wcs.world_to_pixel(ra.read_catalog(table)["skycoord"])
flags = table["B3_flag"].filled("") if hasattr(table["B3_flag"], "filled") else table["B3_flag"]
labels = table["B3_label"].filled("") if hasattr(table["B3_label"], "filled") else table["B3_label"]
for lab, colour in (("YES", "#d6336c"), ("NO", "#1c7ed6")):
    sel = (flags == "") & (labels == lab)
    ax.scatter(x[sel], y[sel], s=120, facecolors="none", edgecolors=colour, lw=1.5, label=f"{lab} ({sel.sum()})")
sel = flags != ""
ax.scatter(x[sel], y[sel], marker="x", color="0.4", label=f"flagged ({sel.sum()})")
ax.set(xlabel="Galactic longitude", ylabel="Galactic latitude", title="MAGPIS G10.5+0.0 (20 cm), task B3")
ax.legend(fontsize=8, loc="lower left")
plt.show()
