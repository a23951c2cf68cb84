"""
MiraBest: confident and uncertain FR classes (task B6)
======================================================

MiraBest (Miraghaei & Best 2017) marks each FIRST source as a *confident* or *uncertain* FR-I or FR-II.
The shipped B6 model was trained on FR-DEEP and on part of this sample, so this is no held-out score: the
point is how its probability of FR-II spreads for the sources the experts were sure of and for those they
were not.
"""
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from astropy.table import Table

import radioassist as ra

# the project's survey data, beside the source tree (run from the repository root)
DATA = Path(os.environ.get("RADIOASSIST_DATA", "../shared/data"))
folder = DATA / "mirabest_first"
manifest = Table.read(folder / "manifest.csv")
manifest = manifest[np.isin(manifest["fr_class"], ["FR-I", "FR-II"])]

images = np.concatenate([ra.render(ra.load_image(folder / "FITS" / f).data, preset="radio-llava")
                   for f in manifest["file"]])
predictions = ra.get_backend("vision").predict(images, "B6")
p_fr2 = np.asarray(predictions.probabilities)[:, list(ra.get_task("B6").labels).index("FR-II")]

# %%
fig, ax = plt.subplots(figsize=(6, 3.8))
bins = np.linspace(0, 1, 21)
for fr, colour in (("FR-I", "#e8a33d"), ("FR-II", "#4aa3df")):
    for confident, style in ((1, "stepfilled"), (0, "step")):
        sel = (manifest["fr_class"] == fr) & (manifest["confident"] == confident)
        ax.hist(p_fr2[sel], bins=bins, histtype=style, color=colour, alpha=0.55 if confident else 1, lw=2,
                label=f"{fr}, {'confident' if confident else 'uncertain'} ({sel.sum()})")
ax.set(xlabel="P(FR-II) from first-frdeep-b6", ylabel="sources", title="MiraBest FIRST cutouts")
ax.legend(fontsize=8)
plt.show()
