"""
FIRST PNGs: extended radio galaxy or not? (task B3)
===================================================

The Radio Galaxy Dataset (Griese et al. 2023) holds FIRST cutouts as 8-bit PNGs without WCS. Its
``Compact`` class is a NO for task B3 (extended radio-galaxy detection), FR-I, FR-II and bent sources a YES.
Score the shipped ``first-rgd-b3`` model on the held-out test split and draw its reliability diagram: a
model that says 0.9 should be right nine times in ten.

Command-line equivalent::

    radioassist evaluate ../shared/data/first_rgd_png/labels.csv --task B3 \\
        --label-map Compact=NO,FRI=YES,FRII=YES,Bent=YES -o eval-b3
"""
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import radioassist as ra
from radioassist.metrics import reliability_curve
from radioassist.plotting import plot_reliability_diagram

# the project's survey data, beside the source tree (run from the repository root)
DATA = Path(os.environ.get("RADIOASSIST_DATA", "../shared/data"))

result = ra.evaluate(DATA / "first_rgd_png" / "labels.csv", tasks="B3", n_bootstrap=200,
                     dataset_options={"label_map": {"Compact": "NO", "FRI": "YES", "FRII": "YES", "Bent": "YES"}})
print(result.summary["model", "task", "n", "macro_f1", "accuracy", "ece"])

# %%
pred = result.predictions["B3"]
probs = np.column_stack([pred["prob_YES"], pred["prob_NO"]])
truth = np.where(pred["true"] == "YES", 0, 1)
fig, ax = plt.subplots(figsize=(5, 4))
plot_reliability_diagram(reliability_curve(probs, truth), ax=ax, title="first-rgd-b3 on the RGD test split")
plt.show()
