"""
AMI-LA: a 4-D cube with degenerate axes (task B3)
=================================================

AMI-LA images (16 GHz) are stored as 512x512x1x1 cubes with a FREQ or STOKES axis. ``load_image`` drops
the degenerate axes and keeps the celestial WCS; sources are then found and asked task B3 (extended radio
galaxy?).

This is a failure case on purpose. The model saw FIRST at 1.4 GHz with a 5.4" beam; here the beam is
54"x25" and the frequency 16 GHz, and radioassist says so (``DomainWarning``). Cut to the model's 4.5'
field, a point source fills a few beam widths and looks extended to a model that has only seen 5" beams,
so its confident YES means nothing. Check the warning and the model card before trusting labels on another
survey.
"""
import os
from pathlib import Path

import matplotlib.pyplot as plt
from astropy.io import fits
from astropy.visualization import AsinhStretch, ImageNormalize, PercentileInterval

import radioassist as ra

# the project's survey data, beside the source tree (run from the repository root)
DATA = Path(os.environ.get("RADIOASSIST_DATA", "../shared/data"))
path = DATA / "pyse_ami_lofar" / "GRB120422A-120429.fits"
print("on disk:", fits.getdata(path).shape)
image = ra.load_image(path)
print(image)

table = ra.classify(image, task="B3")
print(table["source_id", "snr", "B3_label", "B3_prob_YES", "B3_flag"])

# %%
fig = plt.figure(figsize=(6, 5.5))
ax = fig.add_subplot(projection=image.wcs)
ax.imshow(image.data, origin="lower", cmap="gray_r",
          norm=ImageNormalize(image.data, interval=PercentileInterval(99.8), stretch=AsinhStretch(0.1)))
x, y = image.wcs.world_to_pixel(ra.read_catalog(table)["skycoord"])
labels = table["B3_label"].filled("") if hasattr(table["B3_label"], "filled") else table["B3_label"]
ax.scatter(x, y, s=120, facecolors="none", edgecolors="#d6336c", lw=1.5)
for xi, yi, lab in zip(x, y, labels):
    ax.annotate(lab or "flagged", (xi, yi), xytext=(6, 6), textcoords="offset points", color="#d6336c", fontsize=8)
ax.set(xlabel="RA", ylabel="Dec", title=f"{path.name}: {len(table)} sources found, task B3")
plt.show()
