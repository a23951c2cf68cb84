"""``radioassist backends``, ``radioassist tasks`` and ``radioassist models``: what is available."""

import click

from ._common import handle_errors

__all__ = ["backends", "tasks", "models"]


@click.command("backends")
@handle_errors
def backends():
    """List the classifier backends (built-in and from installed plug-ins)."""
    from ..backends import available_backends, get_backend_class
    from ..exceptions import BackendError

    names = available_backends()
    width = max([len(n) for n in names] + [9])
    for name in names:
        try:
            description = get_backend_class(name).description or ""
        except BackendError as exc:
            description = f"(cannot be loaded: {exc})"
        click.echo(f"{name:<{width}}  {description}".rstrip())
    from .._structure_classify import STRUCTURE_BACKEND

    click.echo(f"{STRUCTURE_BACKEND:<{width}}  task B2 without a model: the components and peaks of each radio source "
               f"(radioassist.structure, Radio Galaxy Zoo's contours); the default for B2")


@click.command("tasks")
@handle_errors
def tasks():
    """List the classification tasks: id, name, labels, single/multi-label."""
    from ..tasks import TASKS

    width = max(len(t.id) for t in TASKS.values())
    for task in TASKS.values():
        kind = "multi-label" if task.multilabel else "single-label"
        labels = ", ".join(task.labels)
        if task.multilabel:
            labels += f" (or {task.none_label})"
        click.echo(f"{task.id:<{width}}  {task.name} [{kind}]: {labels}")


@click.command("models")
@handle_errors
def models():
    """List the models shipped with radioassist and the tasks they answer."""
    from ..models import DEFAULT_MODELS, available_models, model_info

    defaults = {name: task for task, name in DEFAULT_MODELS.items()}
    names = available_models()
    if not names:
        click.echo("No model is shipped with this installation.")
        return
    width = max(len(n) for n in names)
    for name in names:
        info = model_info(name)
        default = " (default)" if name in defaults else ""
        headline = info.get("headline") or []
        score = ""
        if not headline:
            f1 = info.get("test_macro_f1") or info.get("val_macro_f1")
            score = f", macro F1 {f1:.3f}" if isinstance(f1, (int, float)) else ""
        domain = _domain(info)
        click.echo(
            f"{name:<{width}}  task {info.get('task', '?')}{default}: {', '.join(info.get('labels', []))}"
            f"{score}{'; ' + domain if domain else ''}"
        )
        for line in headline:
            click.echo(f"{'':<{width}}    {_headline(line)}")
    _rule_methods(width)


def _rule_methods(width):
    """Methods without weights that answer a task by default (task B2: the source structure)."""
    import json

    from ..models import MODELS_DIR

    for card in sorted(MODELS_DIR.glob("*/method.json")):
        info = json.loads(card.read_text(encoding="utf-8"))
        name = card.parent.name
        width = max(width, len(name))
        click.echo(f"{name:<{width}}  task {info.get('task', '?')} (default): {', '.join(info.get('labels', []))}; "
                   f"{info.get('method', '')}, backend '{info.get('backend', '')}'; {_domain(info)}")
        for line in info.get("headline") or []:
            click.echo(f"{'':<{width}}    {_headline(line)}")


def _domain(info):
    parts = []
    if info.get("surveys"):
        parts.append("/".join(info["surveys"]))
    freq = info.get("frequency_mhz")
    if isinstance(freq, (int, float)):
        parts.append(f"{freq:g} MHz")
    elif isinstance(freq, list) and len(freq) == 2:
        parts.append(f"{freq[0]:g}-{freq[1]:g} MHz")
    if info.get("pixel_scale_arcsec"):
        parts.append(f'{info["pixel_scale_arcsec"]:g}"/px')
    if info.get("beam_arcsec"):
        parts.append(f'beam {info["beam_arcsec"]:g}"')
    return ", ".join(parts)


def _headline(line):
    """One headline figure recorded in a model's config (``radioassist.headline``) as text."""
    if isinstance(line, str):
        return line
    text = f"{line.get('metric', 'score')} {line.get('value', float('nan')):.3f}"
    ci = line.get("interval")
    if ci:
        text += f" [{ci[0]:.3f}, {ci[1]:.3f}]"
    if line.get("data"):
        text += f" on {line['data']}"
    return text
