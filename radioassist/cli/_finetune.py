"""``radioassist finetune``: instruction fine-tuning of LLaVA-OneVision (LoRA or full) on conversations."""
import click

from ._common import command_line, handle_errors, progress_enabled
from ._options import batch_size_option, device_option

__all__ = ["finetune_command"]


def _targets(text):
    if text is None:
        return None
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names:
        raise click.BadParameter("give layer names separated by commas, e.g. q_proj,v_proj",
                                 param_hint="--target-modules")
    return names


@click.command("finetune")
@click.argument("data", type=click.Path(exists=True))
@click.option("--model", "-m", required=True,
              help="Base LLaVA-OneVision checkpoint (folder or hub id), e.g. "
                   "llava-hf/llava-onevision-qwen2-0.5b-ov-hf.")
@click.option("--output", "-o", "output_dir", required=True, type=click.Path(file_okay=False),
              help="Folder of the adapter (or full checkpoint), model card and checkpoints.")
@click.option("--valid", "valid_data", type=click.Path(exists=True), default=None,
              help="Validation conversations (default: valid.json next to a make-dataset train.json folder).")
@click.option("--method", type=click.Choice(["lora", "full"]), default="lora", show_default=True,
              help="LoRA adapter on the language model, or full fine-tuning of the language model.")
@click.option("--lora-rank", type=click.IntRange(1, 4096), default=16, show_default=True, help="LoRA rank.")
@click.option("--lora-alpha", type=click.FloatRange(min=0, min_open=True), default=None,
              help="LoRA scaling alpha (default: twice the rank).")
@click.option("--lora-dropout", type=click.FloatRange(0, 1, max_open=True), default=0.05, show_default=True,
              help="LoRA dropout.")
@click.option("--target-modules", default=None,
              help="Language-model layers with LoRA, comma-separated (default: "
                   "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj).")
@click.option("--train-projector/--freeze-projector", default=True, show_default=True,
              help="Train the multimodal projector too.")
@click.option("--train-vision/--freeze-vision", default=False, show_default=True,
              help="Unfreeze the vision tower.")
@click.option("--learning-rate", "--lr", "learning_rate", type=click.FloatRange(min=0, min_open=True),
              default=None,
              help="Peak learning rate (default: 2e-4 LoRA, 1e-5 full).")
@click.option("--weight-decay", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="AdamW weight decay.")
@click.option("--warmup-ratio", type=click.FloatRange(0, 1, max_open=True), default=0.03, show_default=True,
              help="Fraction of the steps with a linear warm-up.")
@click.option("--scheduler", type=click.Choice(["cosine", "linear", "constant"]), default="cosine",
              show_default=True, help="Learning-rate decay after the warm-up.")
@click.option("--epochs", type=click.IntRange(1, 10000), default=1, show_default=True,
              help="Passes over the data.")
@click.option("--max-steps", type=click.IntRange(1), default=None,
              help="Optimizer steps (overrides --epochs).")
@batch_size_option(1, what="Conversations (a micro-batch)")
@click.option("--gradient-accumulation", type=click.IntRange(1, 100000), default=1, show_default=True,
              help="Micro-batches per optimizer step.")
@click.option("--max-grad-norm", type=click.FloatRange(min=0), default=1.0, show_default=True,
              help="Gradient clipping (0: none).")
@click.option("--system-prompt/--no-system-prompt", default=True, show_default=True,
              help="Put the radio system prompt in every conversation (the llava backend asks with it).")
@click.option("--dtype", type=click.Choice(["float32", "fp32", "bfloat16", "bf16"]), default=None,
              help="Weight dtype (default: float32 on CPU, bfloat16 on CUDA).")
@device_option()
@click.option("--gradient-checkpointing", is_flag=True, default=False,
              help="Recompute activations in the backward pass (less memory, slower).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the initialisation and data order.")
@click.option("--save-every", type=click.IntRange(1), default=None,
              help="Save a checkpoint every this many steps (and at the end).")
@click.option("--keep-checkpoints", type=click.IntRange(0), default=2, show_default=True,
              help="Checkpoints kept (0: all).")
@click.option("--resume", is_flag=True, default=False,
              help="Continue from the last checkpoint in the output folder.")
@click.option("--data-description", default=None, help="Origin and licence of the data, for the model card.")
@click.option("--overwrite", is_flag=True, default=False, help="Replace a run already in the output folder.")
@click.option("--mix", "mix", multiple=True, metavar="DATASET:FRACTION",
              help="Mix general instruction data into the training set at this share of it (reduces forgetting): "
                   "a LLaVA conversation .json or a general set (synthetic-general, a ChartQA/DocVQA/ScienceQA/"
                   "MMBench path), e.g. --mix synthetic-general:0.2. Repeat for several.")
@click.option("--general-eval", "general_eval", multiple=True, metavar="SET",
              help="After training, score the base and the fine-tuned model on this general set (as "
                   "evaluate-general) and put the scores and their change in the model card. Repeat for several.")
@click.option("--general-eval-limit", type=click.IntRange(1), default=None,
              help="Use the first N items of each --general-eval set.")
@click.pass_context
@handle_errors
def finetune_command(ctx, data, model, output_dir, valid_data, method, lora_rank, lora_alpha, lora_dropout,
                     target_modules, train_projector, train_vision, learning_rate, weight_decay, warmup_ratio,
                     scheduler, epochs, max_steps, batch_size, gradient_accumulation, max_grad_norm,
                     system_prompt, dtype, device, gradient_checkpointing, seed, save_every, keep_checkpoints,
                     resume, data_description, overwrite, mix, general_eval, general_eval_limit):
    """Fine-tune LLaVA-OneVision (radio-llava) on LLaVA conversations in DATA.

    DATA is a conversation .json file or a folder made by make-dataset (its
    train.json; valid.json is used for validation).  The loss is computed on
    the answers only.  The result loads with the llava backend:
    get_backend('llava', model=BASE, adapter=OUTPUT) for LoRA, or
    get_backend('llava', model=OUTPUT) for --method full.

    Example:

        radioassist finetune b3-data -m llava-hf/llava-onevision-qwen2-0.5b-ov-hf -o b3-lora
        --device cuda --batch-size 8 --epochs 2 --save-every 200
    """
    from ..training.finetune import DEFAULT_LORA_TARGETS, finetune_llava

    result = finetune_llava(
        data, output_dir, model=model, valid_data=valid_data, method=method, lora_rank=lora_rank,
        lora_alpha=lora_alpha, lora_dropout=lora_dropout,
        target_modules=_targets(target_modules) or DEFAULT_LORA_TARGETS, train_projector=train_projector,
        train_vision=train_vision, learning_rate=learning_rate, weight_decay=weight_decay,
        warmup_ratio=warmup_ratio, scheduler=scheduler, epochs=epochs, max_steps=max_steps,
        batch_size=batch_size, gradient_accumulation=gradient_accumulation, max_grad_norm=max_grad_norm,
        system_prompt=system_prompt,
        dtype=dtype, device=device, gradient_checkpointing=gradient_checkpointing, seed=seed,
        save_every=save_every, keep_checkpoints=keep_checkpoints, resume=resume, overwrite=overwrite,
        progress=progress_enabled(), data_description=data_description, command=command_line(ctx),
        mix=list(mix) or None, general_eval=list(general_eval) or None, general_eval_limit=general_eval_limit)
    kind = "LoRA adapter" if result.method == "lora" else "Fine-tuned model"
    click.echo(f"{kind} written to {result.output_dir} ({result.steps} steps, {result.seconds:.0f} s; "
               f"{result.trainable_parameters:,} trainable parameters)")
    loss = f"Training loss {result.train_loss:.4f}"
    if result.valid_loss is not None:
        before = f"{result.initial_valid_loss:.4f} -> " if result.initial_valid_loss is not None else ""
        loss += f"; validation loss {before}{result.valid_loss:.4f}"
    click.echo(loss)
    if general_eval:
        import json
        from pathlib import Path

        with open(Path(result.output_dir) / "finetune.json", encoding="utf-8") as fh:
            general = json.load(fh).get("general_eval") or {}
        if general.get("markdown"):
            click.echo("\nGeneral tasks (forgetting):\n" + general["markdown"])
