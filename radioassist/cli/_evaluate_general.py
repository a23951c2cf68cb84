"""``radioassist evaluate-general``: what fine-tuning costs a VLM on general visual questions."""
import click

from ._common import handle_errors, progress_enabled

__all__ = ["evaluate_general_command"]


@click.command("evaluate-general")
@click.argument("sets", nargs=-1, required=True)
@click.option("--model", "-m", "models", multiple=True, required=True,
              help="Model to evaluate, as BACKEND=MODEL[,OPTION=VALUE...][,name=NAME]; repeat for several. The "
                   "first is the base the others are compared with (see --base), e.g. -m llava=BASE "
                   "-m llava=BASE,adapter=LORA,name=lora -m llava=FULL-FINETUNE.")
@click.option("--base", default=None,
              help="Name of the model the others are compared with (default: the first --model).")
@click.option("--limit", type=click.IntRange(1), default=None,
              help="Use the first N items of every set (quick checks).")
@click.option("--batch-size", type=click.IntRange(1, 4096), default=8, show_default=True,
              help="Questions per forward pass (local models).")
@click.option("--device", default="cpu", show_default=True, help="Torch device (cpu, cuda, cuda:1, mps).")
@click.option("--dtype", default=None, help="Compute dtype of local models (float32, bfloat16, float16).")
@click.option("--system-prompt", default=None,
              help="A system turn before every question (default: none; the radio system prompt is not used).")
@click.option("--bootstrap", "n_bootstrap", type=click.IntRange(0, 1000000), default=1000, show_default=True,
              help="Bootstrap resamples of the intervals (0: none).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the bootstrap.")
@click.option("--figures/--no-figures", default=True, show_default=True,
              help="Write general_scores.png (needs matplotlib).")
@click.option("--output", "-o", "output_dir", required=True, type=click.Path(file_okay=False),
              help="Folder for summary.ecsv/.md, items.ecsv, general.json and the figure.")
@click.option("--overwrite", is_flag=True, default=False,
              help="Write into an output folder that is not empty (same-named files are replaced).")
@handle_errors
def evaluate_general_command(sets, models, base, limit, batch_size, device, dtype, system_prompt, n_bootstrap,
                             seed, figures, output_dir, overwrite):
    """Score VLMs on general question SETS and the change of each model against its base.

    Each of SETS is synthetic-general (shipped, generated offline), a path
    whose layout is recognised (ChartQA test_human.json, DocVQA val_v1.0.json,
    ScienceQA problems.json, MMBench .tsv, a general datalist or LLaVA
    conversation .json), or FORMAT:PATH, with options after commas
    (e.g. scienceqa:data/problems.json,split=test).  Multiple-choice items are
    answered by option-letter log-likelihood, open items by greedy generation
    scored by exact match, relaxed accuracy (ChartQA) or ANLS (DocVQA).

    Example (a LoRA fine-tune against its base):

    \b
        radioassist evaluate-general synthetic-general \\
            -m llava=llava-hf/llava-onevision-qwen2-0.5b-ov-hf \\
            -m llava=llava-hf/llava-onevision-qwen2-0.5b-ov-hf,adapter=b3-lora,name=b3-lora \\
            --device cuda -o forgetting
    """
    from ..general import evaluate_general

    result = evaluate_general(list(sets), list(models), base=base, limit=limit, device=device, dtype=dtype,
                              batch_size=batch_size, system_prompt=system_prompt, n_bootstrap=n_bootstrap,
                              seed=seed, progress=progress_enabled())
    files = result.write(output_dir, overwrite=overwrite, figures=figures)
    click.echo(result.to_markdown())
    click.echo(f"\n{len(files)} files written to {output_dir}", err=True)
