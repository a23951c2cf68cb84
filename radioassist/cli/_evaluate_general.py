"""``radioassist evaluate-general``: what fine-tuning costs a VLM on general visual questions."""
import click

from ._common import handle_errors, progress_enabled
from ._options import batch_size_option, device_option, dtype_option, evaluation_output_options, models_option

__all__ = ["evaluate_general_command"]


@click.command("evaluate-general")
@click.argument("sets", nargs=-1, required=True)
@models_option(required=True)
@click.option("--base", default=None,
              help="Name of the model the others are compared with (default: the first --model).")
@click.option("--limit", type=click.IntRange(1), default=None,
              help="Use the first N items of every set (quick checks).")
@batch_size_option(8, what="Questions (local models)")
@device_option()
@dtype_option()
@click.option("--system-prompt", default=None,
              help="A system turn before every question (default: none; the radio system prompt is not used).")
@evaluation_output_options
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
