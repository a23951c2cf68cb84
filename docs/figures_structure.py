"""Figure of the source-structure tutorial: islands, peaks and radio sources found in real FIRST images.

Writes ``docs/_static/structure_first.png`` (run from the repository root; reads ``../shared/data``)::

    python docs/figures_structure.py [--data ../shared/data]
"""
import argparse
import warnings
from pathlib import Path


IMAGES = ("frdeep_v2/FIRST/1408+0050_II.fits",
          "mirabest_first/FITS/100_122.412+034.927_0.0825_0124.74.fits")


def figure(data, out):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from astropy import units as u
    from astropy.visualization import AsinhStretch, ImageNormalize, PercentileInterval

    from radioassist.image import load_image
    from radioassist.structure import find_structure

    fig, axes = plt.subplots(1, len(IMAGES), figsize=(4.2 * len(IMAGES), 4.4))
    colours = plt.cm.tab10.colors
    for ax, name in zip(axes, IMAGES):
        path = Path(data) / name
        image = load_image(path)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # FIRST cutouts record no beam: 5.4 arcsec given
            s = find_structure(image, beam=5.4 * u.arcsec)
        norm = ImageNormalize(image.data, interval=PercentileInterval(99.8), stretch=AsinhStretch(0.05))
        ax.imshow(image.data, origin="lower", cmap="Greys", norm=norm)
        for k, row in enumerate(s.islands):
            colour = colours[(int(row["source_id"]) - 1) % len(colours)]
            mask = (s.island_map == row["island_id"]).astype(float)
            ax.contour(mask, levels=[0.5], colors=[colour], linewidths=1.2)
        ax.plot(s.peaks["x"], s.peaks["y"], "x", color="crimson", ms=6, mew=1.5, label="peaks")
        for row in s.sources:
            colour = colours[(int(row["source_id"]) - 1) % len(colours)]
            ax.annotate(f"{row['n_components']}C-{min(row['n_peaks'], 9)}P\n{row['flux'] * 1e3:.0f} mJy",
                        (row["x"], row["y"]), xytext=(14, 10), textcoords="offset points", color=colour,
                        fontsize=8, fontweight="bold", bbox={"fc": "white", "ec": colour, "alpha": 0.8},
                        arrowprops={"arrowstyle": "-", "color": colour})
        ax.set_title(f"{path.name}\n{len(s.islands)} islands, {len(s.peaks)} peaks, {len(s.sources)} radio "
                     f"source{'s' if len(s.sources) != 1 else ''}", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0].legend(loc="upper left", fontsize=7)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    fig.savefig(out, dpi=80)
    plt.close(fig)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--out", default=str(Path(__file__).parent / "_static" / "structure_first.png"))
    args = parser.parse_args()
    print(figure(args.data, args.out))


if __name__ == "__main__":
    main()
