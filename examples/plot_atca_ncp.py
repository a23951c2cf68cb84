"""
ATCA Scorpio: an NCP-projected field with diffuse emission (task B3)
====================================================================

An ATCA 1.4 GHz field of the Scorpio survey (Umana et al. 2015): 1000x1000 pixels, RA---NCP projection,
stray 3rd/4th axis keywords on a 2-D image. Sources are found and asked task B3; the figure shows where
the detector split diffuse Galactic emission into components, and what the model called them.
"""
import os
from pathlib import Path

import matplotlib.pyplot as plt
from astropy.visualization import AsinhStretch, ImageNormalize, PercentileInterval

import radioassist as ra

# the project's survey data, beside the source tree (run from the repository root)
DATA = Path(os.environ.get("RADIOASSIST_DATA", "../shared/data"))
image = ra.load_image(DATA / "scorpio_atca" / "ScorpioExtendedSourceField.fits")
print(image)

table = ra.classify(image, task="B3")
flags = table["B3_flag"].filled("") if hasattr(table["B3_flag"], "filled") else table["B3_flag"]
labels = table["B3_label"].filled("") if hasattr(table["B3_label"], "filled") else table["B3_label"]
print(len(table), "sources;", {lab: int(((flags == "") & (labels == lab)).sum()) for lab in ("YES", "NO")})

# %%
fig = plt.figure(figsize=(6.5, 6))
ax = fig.add_subplot(projection=image.wcs)
ax.imshow(image.data, origin="lower", cmap="gray_r",
          norm=ImageNormalize(image.data, interval=PercentileInterval(99.7), stretch=AsinhStretch(0.05)))
x, y = image.wcs.world_to_pixel(ra.read_catalog(table)["skycoord"])
for lab, colour in (("YES", "#d6336c"), ("NO", "#1c7ed6")):
    sel = (flags == "") & (labels == lab)
    ax.scatter(x[sel], y[sel], s=60, facecolors="none", edgecolors=colour, lw=1.2, label=f"{lab} ({sel.sum()})")
sel = flags != ""
ax.scatter(x[sel], y[sel], s=15, marker="x", color="0.4", label=f"flagged ({sel.sum()})")
ax.set(xlabel="RA", ylabel="Dec", title="Scorpio extended-source field (ATCA, NCP), task B3")
ax.legend(fontsize=8, loc="lower left")
plt.show()
