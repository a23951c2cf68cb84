"""
FIRST: FR-I or FR-II? (task B6, FR-DEEP test split)
===================================================

Score the shipped ``first-frdeep-b6`` model on the 198 held-out FR-DEEP cutouts (VLA FIRST, 1.4 GHz,
1.8"/px) it was not trained on, then look at the confusion matrix and at its most confident mistakes.

Command-line equivalent::

    radioassist evaluate ../shared/data/frdeep_v2 --task B6 --manifest frdeep_v2_manifest.csv \\
        --file-column file_first --label-from-filename '_(I|II)\\.fits$' --label-map I=FR-I,II=FR-II -o eval-b6
"""
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import radioassist as ra
from radioassist.plotting import plot_confusion_matrix

# the project's survey data, beside the source tree (run from the repository root)
DATA = Path(os.environ.get("RADIOASSIST_DATA", "../shared/data"))

result = ra.evaluate(DATA / "frdeep_v2", tasks="B6", n_bootstrap=200,
                     dataset_options={"manifest": "frdeep_v2_manifest.csv", "file_column": "file_first",
                                      "label_from_filename": r"_(I|II)\.fits$",
                                      "label_map": {"I": "FR-I", "II": "FR-II"}})
print(result.summary["model", "task", "n", "macro_f1", "macro_f1_low", "macro_f1_high", "accuracy", "ece"])

# %%
# Confusion matrix (rows: truth, columns: predicted).
fig, ax = plt.subplots(figsize=(4.5, 4))
plot_confusion_matrix(result.reports[("vision", "B6")], ax=ax, title="FR-DEEP test split")
plt.show()

# %%
# The six most confident wrong answers, as the model saw them (radio-llava rendering).
pred = result.predictions["B6"]
confidence = np.maximum(pred["prob_FR-I"], pred["prob_FR-II"])
wrong = np.flatnonzero(~np.asarray(pred["correct"], bool))
wrong = wrong[np.argsort(-confidence[wrong])][:6]
fig, axes = plt.subplots(1, len(wrong), figsize=(2 * len(wrong), 2.5))
for ax, i in zip(np.atleast_1d(axes), wrong):
    ax.imshow(ra.render(ra.load_image(pred["file"][i]).data, preset="radio-llava")[0])
    ax.set_title(f"true {pred['true'][i]}\nsaid {pred['predicted'][i]} {confidence[i]:.2f}", fontsize=8)
    ax.set_axis_off()
plt.show()
