"""Fixed colours for the labels of a task, the same in every output of every run.

The PNG gallery, the DS9 region file and the HTML report colour a label the
same way, and a label keeps its colour from one run to the next whatever else
the run found: colours follow the order of the task's labels
(:attr:`radioassist.tasks.Task.labels`), not the labels that happen to occur.
"""
__all__ = ["PALETTE", "NO_LABEL_COLOUR", "NOT_APPLICABLE_COLOUR", "label_colours", "hex_colour"]

#: Colour-blind-safe colours (Okabe & Ito 2008), given to a task's labels in the task's label order.
PALETTE = (
    (230, 159, 0),    # orange
    (86, 180, 233),   # sky blue
    (0, 158, 115),    # bluish green
    (240, 228, 66),   # yellow
    (213, 94, 0),     # vermillion
    (0, 114, 178),    # blue
    (204, 121, 167),  # reddish purple
    (255, 255, 255),  # white
)
#: Rows without a label (not classified).
NO_LABEL_COLOUR = (127, 127, 127)
#: Rows the task does not apply to (flag ``not_applicable``).
NOT_APPLICABLE_COLOUR = (180, 180, 180)


def label_colours(task, extra=()):
    """Label -> ``(R, G, B)`` for a task: its labels in their own order, then ``extra`` labels sorted.

    Parameters
    ----------
    task : `~radioassist.tasks.Task`, str or None
        The task (or its id).  None: only ``extra``.
    extra : iterable of str, optional
        Other labels to colour (e.g. a model's own labels), after the task's.

    Returns
    -------
    dict

    Examples
    --------
    >>> from radioassist.colours import label_colours
    >>> label_colours("B6")
    {'FR-I': (230, 159, 0), 'FR-II': (86, 180, 233)}
    """
    names = []
    if task is not None:
        from .tasks import get_task

        names = list(get_task(task).labels)
    names += sorted({str(lab) for lab in extra if lab and str(lab) not in names})
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}


def hex_colour(rgb):
    """``(R, G, B)`` -> ``'#rrggbb'`` (HTML and DS9 both read it).

    Parameters
    ----------
    rgb : tuple of int

    Returns
    -------
    str
    """
    return "#%02x%02x%02x" % tuple(int(c) for c in rgb)
