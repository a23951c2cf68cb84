"""``radioassist classify``: label every source of a mosaic, or of a survey of mosaics."""
import json
from pathlib import Path

import click
import numpy as np

from ._common import handle_errors, progress_enabled
from ._options import (batch_size_option, catalog_column_options, catalog_option, chunk_size_option,
                       coverage_option, device_option, image_options, parallel_options, preset_option, size_option,
                       size_rule_options)

__all__ = ["classify_command"]


def _backend_options(pairs, allow_pickle, trust_remote_code):
    """``--option KEY=VALUE`` pairs (values read as JSON when they parse, else as text) and the safety flags."""
    options = {}
    for pair in pairs:
        key, sep, value = str(pair).partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE (e.g. base_url=http://localhost:8000/v1)",
                                     param_hint="--option")
        if key in ("model", "device"):
            raise click.BadParameter(f"{key!r} has its own option: use --{key} (e.g. --{key} {value})",
                                     param_hint="--option")
        if "key" in key.lower() and key.lower() != "api_key_env":
            raise click.BadParameter(f"{key!r}: secrets are never passed on the command line; put the API key in "
                                     "an environment variable and name it with --option api_key_env=NAME",
                                     param_hint="--option")
        try:
            options[key] = json.loads(value)
        except ValueError:
            options[key] = value
    if allow_pickle:
        options["allow_pickle"] = True
    if trust_remote_code:
        options["trust_remote_code"] = True
    return options


@click.command("classify")
@click.argument("mosaics", nargs=-1, required=True, type=click.Path(dir_okay=False), metavar="MOSAIC...")
@catalog_option()
@click.option("-t", "--task", default="B6", show_default=True,
              help="Task to ask: B1-B6 or a registered task (see 'radioassist tasks').")
@click.option("-b", "--backend", default="vision", show_default=True,
              help="Classifier backend (see 'radioassist backends').")
@click.option("-m", "--model", default=None,
              help="Model folder or hub id.  Default: the model shipped with radioassist for the task.")
@click.option("--option", "options", multiple=True, metavar="KEY=VALUE",
              help="Backend option (repeatable), e.g. --option base_url=http://localhost:8000/v1 for the openai "
                   "backend; values are read as JSON when they parse.  Default: none.  API keys are read from "
                   "the environment only (--option api_key_env=NAME).")
@click.option("--allow-pickle", is_flag=True,
              help="Accept pickle weight files (pytorch_model.bin), which can run code when loaded.  "
                   "Default: off (safetensors only).")
@click.option("--trust-remote-code", is_flag=True,
              help="Run model code shipped with a hub model.  Default: off.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Output catalogue; format from the extension (.vot, .xml, .fits, .ecsv, .csv).  "
                   "Default: <mosaic>_<task>.ecsv next to the mosaic (required with several mosaics).")
@click.option("--regions", type=click.Path(dir_okay=False), default=None,
              help="Also write a DS9 region file with sources coloured by label.  Default: none.")
@click.option("--gallery", type=click.Path(dir_okay=False), default=None,
              help="Also write a PNG gallery of cutouts with their labels, cut and rendered as the model saw "
                   "them.  Default: none.")
@click.option("--gallery-max", default=64, show_default=True, help="Most cutouts shown in the gallery.")
@click.option("--report", type=click.Path(dir_okay=False), default=None,
              help="Also write a browsable HTML report (sortable table with thumbnails, most uncertain first; "
                   "opens offline).  Default: none.")
@click.option("--truth-column", default=None,
              help="Catalogue column of true labels, shown in the report with a confusion matrix (disagreements "
                   "first).  Default: none.")
@size_option(default_help="the field of view the model was trained on, else 64 pixels")
@size_rule_options
@preset_option(default_help="the one the model was trained with, else radio-llava")
@coverage_option()
@click.option("--gate", "gate_model", default=None, metavar="MODEL",
              help="For a task that applies only to some sources (B6: extended radio galaxies), the model of the "
                   "gate task (B3) asked first; rows it rules out are flagged not_applicable instead of labelled "
                   "(column <task>_gate_prob keeps its probability).  Default: the shipped B3 model.")
@click.option("--no-gate", is_flag=True,
              help="Ask the task of every source, even those it does not apply to (no gate).  Default: off.")
@click.option("--gate-threshold", default=None, type=click.FloatRange(0, 1),
              help="A row is not_applicable when the gate's probability that the task applies is below this.  "
                   "Default: the value chosen on held-out data (radioassist._gate.DEFAULT_GATE_THRESHOLD).")
@click.option("--drop-unclassified", is_flag=True,
              help="Write only the classified rows to the output catalogue (a small table).  Default: off (every "
                   "input row, in order, with a flag saying why a row was not classified).")
@click.option("--strict", is_flag=True,
              help="Exit with a non-zero status (after writing the outputs) when any answer could not be parsed "
                   "or any request failed.  Default: off (such rows are flagged and counted).")
@batch_size_option(512, what="Sources (cut, rendered and classified together)")
@chunk_size_option()
@device_option()
@image_options
@catalog_column_options
@click.option("--snr", default=5.0, show_default=True, help="Detection threshold when no catalogue is given.")
@parallel_options
@click.option("--resume", is_flag=True,
              help="Continue an interrupted run from the partial results saved next to the output "
                   "(<output>.partial/).  Default: off.")
@click.option("--overwrite", is_flag=True,
              help="Replace existing output files (and discard partial results of an earlier run).  Default: off.")
@handle_errors
def classify_command(mosaics, catalog, task, backend, model, options, allow_pickle, trust_remote_code, output,
                     regions, gallery, gallery_max, report, truth_column, size, size_rule, preset, min_coverage,
                     gate_model, no_gate, gate_threshold, drop_unclassified, strict, batch_size, chunk_size, device,
                     hdu, plane, catalog_options, snr, workers, scheduler, resume, overwrite):
    """Classify every source of MOSAIC (or of several mosaics) and write the labelled catalogue.

    Cuts each catalogue source out of the mosaic, renders it as the model
    expects, asks the classifier the task's question and writes the catalogue
    with <task>_label, one <task>_prob_<label> column per class and a
    <task>_flag column (empty when classified, otherwise why not: outside,
    blank, partial, bad_position, no_tile, unparsed, error: <reason>); the
    last line says how many rows carry each flag.

    With several mosaics (the tiles of a survey) each source is classified in
    the one tile where it lies farthest from the edge and from blank areas
    (column <task>_tile); sources in no tile are flagged no_tile.  Without
    --catalog, the sources of each MOSAIC are found in it and classified in it
    (column <task>_tile names the image): a folder of cutouts is one call,
    e.g. ``radioassist classify cutouts/*.fits --task B3 -o labels.ecsv``.  Results are
    saved as they come in <output>.partial/, so that --resume continues a run
    that was interrupted; the folder is removed once the output is written.
    """
    from ..output import check_writable, write_regions, write_table, _format_for
    from ..pipeline import classify
    from ..resume import PartialResults, partial_path
    from ..tasks import get_task

    task_obj = get_task(task)
    paths = [Path(m) for m in mosaics]
    if output is None:
        if len(paths) > 1:
            raise click.UsageError("with several mosaics, name the output catalogue with -o/--output")
        output = paths[0].with_name(f"{paths[0].stem}_{task_obj.id}.ecsv")
    output = Path(output)
    # check every output before any work, so that a finished run is never lost on a bad path
    _format_for(output)
    for path in (output, regions, gallery, report):
        if path is not None:
            check_writable(path, overwrite=overwrite)
    for path in paths:
        if not path.exists():
            raise click.FileError(str(path), hint="image file not found")
    if catalog is not None and not Path(catalog).exists():
        raise click.FileError(str(catalog), hint="catalogue file not found")
    if truth_column is not None and not report:
        raise click.UsageError("--truth-column is shown in the HTML report: give --report too")
    if no_gate and (gate_model is not None or gate_threshold is not None):
        raise click.UsageError("--no-gate turns the gate off: drop --gate/--gate-threshold, or --no-gate")
    if task_obj.applies_to is None and (gate_model is not None or gate_threshold is not None):
        raise click.UsageError(f"task {task_obj.id} applies to every source and has no gate: drop "
                               "--gate/--gate-threshold")
    gate = False if no_gate else (gate_model if gate_model is not None else True)
    backend_options = _backend_options(options, allow_pickle, trust_remote_code)
    partial = partial_path(output)
    if partial.exists() and not resume:
        if not overwrite:
            raise click.ClickException(
                f"partial results of an interrupted run exist in {partial}: pass --resume to continue it, or "
                "--overwrite to discard them and start again")
        PartialResults(partial).remove()
    timings = {}
    image = [str(p) for p in paths] if len(paths) > 1 else str(paths[0])
    table = classify(image, catalog, task=task_obj, backend=backend, model=model, size=size, **size_rule,
                     preset=preset, batch_size=batch_size, chunk_size=chunk_size, device=device,
                     backend_options=backend_options, catalog_options=catalog_options,
                     detect_options={"snr": snr}, hdu=hdu, plane=plane,
                     scheduler=scheduler, workers=workers, checkpoint=partial, resume=resume,
                     progress=progress_enabled(), timings=timings, min_coverage=min_coverage, gate=gate,
                     gate_threshold=gate_threshold)
    full = table
    if drop_unclassified:
        table = table[np.asarray(table[f"{task_obj.id}_flag"], dtype=str) == ""]
        table.meta["radioassist"] = dict(full.meta.get("radioassist", {}), rows_written="classified only",
                                         n_input_rows=len(full))
    write_table(table, output, overwrite=overwrite)
    PartialResults(partial).remove()  # the output is safely written: the partial results are no longer needed
    n_labelled = int(np.sum(np.asarray(full[f"{task_obj.id}_flag"], dtype=str) == ""))
    click.echo(f"Wrote {output}: {len(table):,} rows"
               + (f" ({n_labelled:,} labelled {task_obj.id})" if len(table) != n_labelled else f" labelled "
                  f"{task_obj.id}"))
    if regions:
        write_regions(table, regions, task=task_obj, overwrite=overwrite)
        click.echo(f"Wrote {regions}: DS9 regions of the {n_labelled:,} labelled sources")
    if gallery:
        shown = _write_gallery(paths, table, task_obj, gallery, limit=gallery_max, overwrite=overwrite, hdu=hdu,
                               plane=plane)
        if shown:
            click.echo(f"Wrote {gallery}: gallery of {shown:,} labelled cutouts")
        else:
            click.echo(f"No gallery written to {gallery}: no source was labelled (see {task_obj.id}_flag)")
    if report:
        from ..report import write_report
        write_report(table, image, report, task=task_obj, truth_column=truth_column, hdu=hdu, plane=plane,
                     overwrite=overwrite, table_path=output)
        click.echo(f"Wrote {report}: HTML report")
    _summary(full, task_obj, timings)
    if strict:
        meta = table.meta.get("radioassist", {})
        n_unparsed, n_errors = int(meta.get("n_unparsed", 0)), int(meta.get("n_errors", 0))
        if n_unparsed or n_errors:
            raise click.ClickException(
                f"--strict: {n_unparsed} answers could not be parsed and {n_errors} requests failed (see "
                f"{task_obj.id}_flag in {output}, which was written)")


def _summary(table, task, timings):
    import numpy as np

    from ..flags import FLAG_ERROR, FLAG_UNPARSED, flag_counts

    flags = np.asarray(table[f"{task.id}_flag"], dtype=str)
    labels = np.asarray(table[f"{task.id}_label"], dtype=str)[flags == ""]
    counts = {lab: int(np.sum(labels == lab)) for lab in sorted(set(labels)) if lab}
    flagged = flag_counts(flags)
    for key in (FLAG_UNPARSED, FLAG_ERROR):  # always said, even when zero
        flagged.setdefault(key, 0)
    parts = ", ".join(f"{lab} {n:,}" for lab, n in counts.items())
    why = ", ".join(f"{'errors' if key == FLAG_ERROR else key} {n:,}" for key, n in flagged.items())
    click.echo(f"Labels: {parts or 'none'}; not classified: {why} (see {task.id}_flag)")
    total = timings.get("total")
    n_labelled = int(len(labels))
    if total:
        rate = n_labelled / total
        click.echo(f"{n_labelled:,} source{'' if n_labelled == 1 else 's'} labelled in {total:.1f} s "
                   f"({rate:.3g} sources/s)")


def _write_gallery(paths, table, task, path, *, limit, overwrite, hdu=None, plane=None):
    import numpy as np

    from ..domain import cutouts_as_classified
    from ..gallery import make_gallery
    from ..image import load_image
    from ..output import check_writable
    from ..render import render

    check_writable(path, overwrite=overwrite)
    flags = np.asarray(table[f"{task.id}_flag"], dtype=str)
    rows = np.flatnonzero(flags == "")[:limit]
    if len(rows) == 0:
        return 0
    prov = table.meta.get("radioassist", {})
    preset = prov.get("render_preset")  # one per tile when they differ; none recorded: render's default
    preset = {"preset": preset[0] if isinstance(preset, list) else preset} if preset else {}
    tile_col = f"{task.id}_tile"
    if tile_col in table.colnames:
        tiles = np.asarray(table[tile_col], dtype=str)
        names = {p.name: p for p in paths}
        names.update({str(p.resolve()): p for p in paths})
    else:
        tiles = np.full(len(table), "", dtype=str)
    images = [None] * len(rows)
    for tile in sorted(set(tiles[rows])):
        sel = np.flatnonzero(tiles[rows] == tile)
        source = paths[0] if not tile else names.get(tile, paths[0])
        with load_image(source, hdu=hdu, plane=plane) as image:
            # what the model saw: its grid (or the run's cutout size and size rule) and the run's render preset
            stack = cutouts_as_classified(image, table[rows[sel]], prov)
            rendered = render(stack.data, **preset)
        for k, i in enumerate(sel):
            images[i] = rendered[k]
    labels = [str(table[f"{task.id}_label"][i]) for i in rows]
    probs = []
    for i, lab in zip(rows, labels):
        col = f"{task.id}_prob_{lab.split(',')[0]}"
        probs.append(float(table[col][i]) if col in table.colnames else float("nan"))
    from ..output import source_names

    names, _ = source_names(table)
    make_gallery(np.stack(images), labels=labels, probabilities=probs, titles=[names[i] for i in rows], task=task,
                 path=path)
    return len(rows)
