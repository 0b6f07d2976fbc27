"""Render puzzles and answers to RGB pictures (uint8 numpy arrays (H, W, 3)) with Pillow, and save them as PNG.

Cell (r, c) of a grid picture covers pixels [r * cell, (r + 1) * cell] x [c * cell, (c + 1) * cell], grid lines on
the borders, so its centre is at (r * cell + cell // 2, c * cell + cell // 2).

Example:
    >>> import numpy as np
    >>> from keras_trm.visualize import render_arc_grid, render_puzzle_row, save_png
    >>> a = render_arc_grid([[0, 1], [2, 3]]); a.shape, a[8, 24].tolist()      # cell (0, 1) is blue
    ((33, 33, 3), [0, 116, 217])
    >>> row = render_puzzle_row([a, a], ["puzzle", "answer"])
    >>> str(row.dtype), row.shape[2]
    ('uint8', 3)
    >>> str(save_png(row, "row.png"))
    'row.png'
"""

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from keras_trm.data.arc import crop_tokens
from keras_trm.data.sudoku import box_shape

ARC_PALETTE = np.array(
    [
        (0x00, 0x00, 0x00),
        (0x00, 0x74, 0xD9),
        (0xFF, 0x41, 0x36),
        (0x2E, 0xCC, 0x40),
        (0xFF, 0xDC, 0x00),
        (0xAA, 0xAA, 0xAA),
        (0xF0, 0x12, 0xBE),
        (0xFF, 0x85, 0x1B),
        (0x7F, 0xDB, 0xFF),
        (0x87, 0x0C, 0x25),
    ],
    dtype=np.uint8,
)
# Maze token -> colour: 0 padding, 1 wall, 2 open, 3 S, 4 G, 5 path.
MAZE_COLOURS = np.array(
    [(200, 200, 200), (40, 40, 40), (255, 255, 255), (46, 204, 64), (255, 65, 54), (255, 133, 27)], dtype=np.uint8
)
WHITE, BLACK = (255, 255, 255), (0, 0, 0)
SUDOKU_GIVEN, SUDOKU_FILLED, SUDOKU_WRONG = (0, 0, 0), (0, 90, 200), (220, 20, 20)
NO_ANSWER = (128, 128, 128)


def _font(size):
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, ImportError, OSError):  # old Pillow or no FreeType: the small bitmap font
        return ImageFont.load_default()


def _text_centred(draw, centre, text, fill, font):
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    x = centre[0] - (left + right) / 2
    y = centre[1] - (top + bottom) / 2
    draw.text((x, y), text, fill=fill, font=font)


def _grid_image(colours, cell, line=(160, 160, 160), box=None, box_line=BLACK):
    """Cells of `cell` pixels filled with `colours` (R, C, 3), 1-pixel grid lines, 3-pixel lines between boxes."""
    colours = np.asarray(colours, dtype=np.uint8)
    rows, cols = colours.shape[:2]
    image = np.empty((rows * cell + 1, cols * cell + 1, 3), dtype=np.uint8)
    image[:-1, :-1] = np.repeat(np.repeat(colours, cell, axis=0), cell, axis=1)
    image[-1, :], image[:, -1] = line, line
    image[::cell, :], image[:, ::cell] = line, line
    if box is not None:
        for r in range(0, rows + 1, box[0]):
            image[max(r * cell - 1, 0) : r * cell + 2, :] = box_line
        for c in range(0, cols + 1, box[1]):
            image[:, max(c * cell - 1, 0) : c * cell + 2] = box_line
    return image


def render_sudoku(tokens, n, givens=None, labels=None, cell=36):
    """An n x n Sudoku (tokens value + 1, blank 1) with box lines.

    With `givens` (the puzzle's input tokens) the givens are drawn black and the other digits blue; with `labels`
    too, filled digits that differ from the label are red. Without `givens` every digit is black.
    """
    tokens = np.asarray(tokens).reshape(n, n)
    given = np.ones((n, n), bool) if givens is None else np.asarray(givens).reshape(n, n) > 1
    wrong = np.zeros((n, n), bool)
    if labels is not None:
        labels = np.asarray(labels).reshape(n, n)
        wrong = ~given & (labels > 1) & (tokens != labels)
    pil = Image.fromarray(_grid_image(np.full((n, n, 3), 255), cell, box=box_shape(n)))
    draw, font = ImageDraw.Draw(pil), _font(int(cell * 0.6))
    for r in range(n):
        for c in range(n):
            if tokens[r, c] > 1:
                fill = SUDOKU_GIVEN if given[r, c] else SUDOKU_WRONG if wrong[r, c] else SUDOKU_FILLED
                centre = (c * cell + cell / 2, r * cell + cell / 2)
                _text_centred(draw, centre, str(int(tokens[r, c]) - 1), fill, font)
    return np.asarray(pil)


def render_maze(tokens, rows, cols, cell=12):
    """A maze (tokens 1 wall, 2 open, 3 S, 4 G, 5 path): wall dark, open white, S green, G red, path orange."""
    tokens = np.clip(np.asarray(tokens).reshape(rows, cols), 0, len(MAZE_COLOURS) - 1)
    return _grid_image(MAZE_COLOURS[tokens], cell, line=(215, 215, 215))


def render_arc_grid(grid, cell=16):
    """An ARC grid of colours 0..9 in the standard ARC palette."""
    grid = np.asarray(grid)
    if grid.size == 0:
        return _grid_image(np.full((1, 1, 3), NO_ANSWER), cell)
    return _grid_image(ARC_PALETTE[np.clip(grid, 0, 9)], cell, line=(85, 85, 85))


def render_arc_tokens(tokens, cell=16):
    """An ARC answer from its 30 x 30 token canvas (PAD 0, EOS 1, colour + 2), cropped as the official scoring does.

    An empty crop (no colour at the top-left) renders as a single grey cell.
    """
    return render_arc_grid(crop_tokens(tokens), cell)


def render_tokens(tokens, benchmark, grid_shape, givens=None, labels=None):
    """Dispatch on `benchmark` ('sudoku', 'maze', or an 'arc...' name) to the matching renderer."""
    rows, cols = grid_shape
    if benchmark == "sudoku":
        return render_sudoku(tokens, rows, givens=givens, labels=labels)
    if benchmark == "maze":
        return render_maze(tokens, rows, cols)
    if benchmark.startswith("arc"):
        return render_arc_tokens(tokens)
    raise ValueError(f"No renderer for benchmark {benchmark!r}.")


def render_puzzle_row(images, titles=None, gap=12, title_height=22, background=WHITE):
    """Images side by side, top-aligned, each under its title (e.g. puzzle | prediction | truth)."""
    images = [np.asarray(image, dtype=np.uint8) for image in images]
    titles = list(titles) if titles is not None else []
    top = title_height if titles else 0
    height = top + max(image.shape[0] for image in images) + gap
    width = sum(image.shape[1] for image in images) + gap * (len(images) + 1)
    out = np.empty((height, width, 3), dtype=np.uint8)
    out[:] = background
    pil_font, x, spans = _font(max(title_height - 8, 8)), gap, []
    for image in images:
        out[top : top + image.shape[0], x : x + image.shape[1]] = image
        spans.append((x, x + image.shape[1]))
        x += image.shape[1] + gap
    if titles:
        pil = Image.fromarray(out)
        draw = ImageDraw.Draw(pil)
        for (left, right), title in zip(spans, titles):
            _text_centred(draw, ((left + right) / 2, top / 2), str(title), BLACK, pil_font)
        out = np.asarray(pil)
    return out


def stack_rows(images, gap=0, background=WHITE):
    """Images one under the other, left-aligned."""
    width = max(image.shape[1] for image in images)
    height = sum(image.shape[0] for image in images) + gap * (len(images) - 1)
    out = np.empty((height, width, 3), dtype=np.uint8)
    out[:], y = background, 0
    for image in images:
        out[y : y + image.shape[0], : image.shape[1]] = image
        y += image.shape[0] + gap
    return out


def render_evolution(step_predictions, render_fn=None, step_labels=None, columns=8, halt_probabilities=None):
    """The answer after each supervision step as a labelled strip, wrapped after `columns` pictures.

    `step_predictions` is a sequence (S, L) of token rows, one per step, drawn with `render_fn(tokens) -> image`;
    without `render_fn` its items are pictures already. `halt_probabilities` (S,), sigmoid(halt logit) after each
    step, is written under its step's label ("step 3 p 0.97").

    Example:
        >>> import numpy as np
        >>> steps = np.array([[3, 2, 2, 1, 1, 4], [3, 5, 2, 1, 1, 4], [3, 5, 5, 1, 1, 4]])
        >>> strip = render_evolution(steps, lambda t: render_maze(t, 2, 3))
        >>> strip.shape[1] > 3 * 2 * 12
        True
    """
    images = [render_fn(step) if render_fn is not None else step for step in step_predictions]
    if step_labels is None:
        step_labels = [f"step {i + 1}" for i in range(len(images))]
    if halt_probabilities is not None:
        step_labels = [f"{label} p {float(p):.2f}" for label, p in zip(step_labels, halt_probabilities)]
    columns = max(1, columns or len(images))
    rows = [
        render_puzzle_row(images[i : i + columns], step_labels[i : i + columns]) for i in range(0, len(images), columns)
    ]
    return stack_rows(rows)


def save_png(array, path):
    """Write an (H, W, 3) uint8 picture to `path` as PNG (parent folders created); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array, dtype=np.uint8)).save(path, format="PNG")
    return path
