"""
FIRST: find components and label them without a catalogue
=========================================================

Without a catalogue, ``classify`` first finds sources with photutils (islands above 3 sigma of the local
RMS, kept when their peak reaches 5 sigma, deblended into components), then labels each one.

Command-line equivalent::

    radioassist classify ../shared/data/frdeep_v2/FIRST/3C_325_II.fits --task B6 -o 3C_325_b6.ecsv
"""
import os
from pathlib import Path

import matplotlib.pyplot as plt
from astropy.stats import mad_std
from astropy.visualization import AsinhStretch, ImageNormalize, PercentileInterval

import radioassist as ra
from radioassist.detect import find_sources

# the project's survey data, beside the source tree (run from the repository root)
DATA = Path(os.environ.get("RADIOASSIST_DATA", "../shared/data"))
image = ra.load_image(DATA / "frdeep_v2" / "FIRST" / "3C_325_II.fits")

found = find_sources(image)
table = ra.classify(image, task="B6")
print(table["source_id", "ra", "dec", "snr", "B6_label", "B6_prob_FR-II", "B6_flag"])

# %%
fig = plt.figure(figsize=(6, 5.5))
ax = fig.add_subplot(projection=image.wcs)
ax.imshow(image.data, origin="lower", cmap="gray_r",
          norm=ImageNormalize(image.data, interval=PercentileInterval(99.8), stretch=AsinhStretch(0.05)))
ax.contour(image.data, levels=[3 * mad_std(image.data, ignore_nan=True)], colors="#2b8a3e", linewidths=0.8)
ax.plot(found["x"], found["y"], "+", color="#c92a2a", ms=12, mew=2)
for row in table:
    x, y = image.wcs.world_to_pixel(ra.read_catalog(table[[row.index]])["skycoord"][0])
    ax.annotate(row["B6_flag"] or row["B6_label"], (x, y), xytext=(6, 6), textcoords="offset points",
                color="#c92a2a", fontsize=8)
ax.set(xlabel="RA", ylabel="Dec", title="3C 325 (FIRST): components (+) and their B6 labels")
plt.show()
