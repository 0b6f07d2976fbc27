import numpy as np
import pytest
from PIL import Image

from keras_trm.visualize import (
    ARC_PALETTE,
    render_arc_grid,
    render_arc_tokens,
    render_evolution,
    render_maze,
    render_puzzle_row,
    render_sudoku,
    render_tokens,
    save_png,
)
from keras_trm.visualize.render import SUDOKU_FILLED, SUDOKU_GIVEN, SUDOKU_WRONG

SUDOKU_4 = np.array([int(c) + 1 for c in "1234341221434321"])
HEX = ["#000000", "#0074D9", "#FF4136", "#2ECC40", "#FFDC00", "#AAAAAA", "#F012BE", "#FF851B", "#7FDBFF", "#870C25"]


def centre(image, r, c, cell):
    return tuple(int(v) for v in image[r * cell + cell // 2, c * cell + cell // 2])


def has_colour(region, colour):
    return bool(np.all(region == np.array(colour, np.uint8), axis=-1).any())


def test_arc_palette_is_standard():
    expected = [tuple(int(h[i : i + 2], 16) for i in (1, 3, 5)) for h in HEX]
    assert [tuple(int(v) for v in rgb) for rgb in ARC_PALETTE] == expected


def test_render_arc_grid_colours_and_shape():
    grid = np.arange(10).reshape(2, 5)
    image = render_arc_grid(grid, cell=10)
    assert image.shape == (21, 51, 3) and image.dtype == np.uint8
    for colour in range(10):
        r, c = divmod(colour, 5)
        assert centre(image, r, c, 10) == tuple(int(v) for v in ARC_PALETTE[colour])


def test_crop_and_render_arc_tokens():
    grid = np.array([[1, 2, 3], [4, 5, 6]])
    canvas = np.zeros((30, 30), int)
    canvas[:2, :3] = grid + 2
    canvas[2, :4] = 1  # EOS row below
    canvas[:3, 3] = 1  # EOS column right
    np.testing.assert_array_equal(render_arc_tokens(canvas.ravel()), render_arc_grid(grid))
    full = np.full(900, 2)  # no EOS at all: the whole black canvas
    assert render_arc_tokens(full, cell=4).shape == (121, 121, 3)
    jagged = canvas.copy()
    jagged[1, 1] = 0  # largest PAD-free rectangle from the top-left is now the first row
    np.testing.assert_array_equal(render_arc_tokens(jagged.ravel()), render_arc_grid(grid[:1]))
    empty = render_arc_tokens(np.zeros(900, int), cell=16)
    assert empty.shape == (17, 17, 3) and centre(empty, 0, 0, 16) == (128, 128, 128)


def test_render_maze_colours():
    tokens = np.array([1, 2, 3, 4, 5, 1])  # wall open S G path wall
    image = render_maze(tokens, 2, 3, cell=12)
    assert image.shape == (25, 37, 3)
    expected = [(40, 40, 40), (255, 255, 255), (46, 204, 64), (255, 65, 54), (255, 133, 27), (40, 40, 40)]
    assert [centre(image, i // 3, i % 3, 12) for i in range(6)] == expected


def test_render_sudoku_digits_and_lines():
    cell = 36
    puzzle = SUDOKU_4.copy()
    puzzle[[0, 5, 10, 15]] = 1
    pred = SUDOKU_4.copy()
    pred[0] = 3  # wrong filled digit at (0, 0); (1, 1) is filled right; (0, 1) is a given
    image = render_sudoku(pred, 4, givens=puzzle, labels=SUDOKU_4, cell=cell)
    assert image.shape == (4 * cell + 1, 4 * cell + 1, 3) and image.dtype == np.uint8

    def cell_pixels(r, c):
        return image[r * cell + 3 : (r + 1) * cell - 2, c * cell + 3 : (c + 1) * cell - 2]

    assert has_colour(cell_pixels(0, 0), SUDOKU_WRONG) and not has_colour(cell_pixels(0, 0), SUDOKU_FILLED)
    assert has_colour(cell_pixels(1, 1), SUDOKU_FILLED) and not has_colour(cell_pixels(1, 1), SUDOKU_WRONG)
    assert has_colour(cell_pixels(0, 1), SUDOKU_GIVEN) and not has_colour(cell_pixels(0, 1), SUDOKU_FILLED)
    assert tuple(image[5, 5]) == (255, 255, 255)  # cell background
    assert tuple(image[5, 2 * cell]) == (0, 0, 0) and tuple(image[5, 2 * cell + 1]) == (0, 0, 0)  # box line
    assert tuple(image[5, cell]) != (0, 0, 0)  # thin cell line, not a box line
    blank = render_sudoku(np.ones(16, int), 4, cell=cell)
    assert not has_colour(blank[3 : cell - 2, 3 : cell - 2], SUDOKU_GIVEN)  # a blank cell draws no digit
    assert render_sudoku(np.ones(81, int), 9).shape == (9 * 36 + 1, 9 * 36 + 1, 3)
    assert render_sudoku(np.ones(36, int), 6, cell=20).shape == (121, 121, 3)


def test_render_tokens_dispatch():
    np.testing.assert_array_equal(render_tokens(SUDOKU_4, "sudoku", (4, 4)), render_sudoku(SUDOKU_4, 4))
    tokens = np.array([3, 5, 4, 1])
    np.testing.assert_array_equal(render_tokens(tokens, "maze", (2, 2)), render_maze(tokens, 2, 2))
    canvas = np.full(900, 4)
    np.testing.assert_array_equal(render_tokens(canvas, "arc-agi-1", (30, 30)), render_arc_tokens(canvas))
    with pytest.raises(ValueError):
        render_tokens(tokens, "chess", (2, 2))


def test_render_puzzle_row_layout():
    a = np.zeros((10, 20, 3), np.uint8)
    b = np.full((30, 5, 3), 7, np.uint8)
    row = render_puzzle_row([a, b], gap=4, title_height=0)
    assert row.shape == (30 + 4, 4 + 20 + 4 + 5 + 4, 3)
    assert tuple(row[0, 4]) == (0, 0, 0) and tuple(row[0, 28]) == (7, 7, 7) and tuple(row[15, 10]) == (255, 255, 255)
    titled = render_puzzle_row([a, b], ["puzzle", "truth"], gap=4, title_height=20)
    assert titled.shape == (20 + 30 + 4, 37, 3)
    assert tuple(titled[20, 4]) == (0, 0, 0)
    assert (titled[:20] < 128).all(axis=-1).any()  # some dark title text


def test_render_evolution_wraps_rows():
    steps = np.array([[3, 2, 2, 1, 1, 4], [3, 5, 2, 1, 1, 4], [3, 5, 5, 1, 1, 4]])
    one = render_maze(steps[0], 2, 3)
    strip = render_evolution(steps, lambda t: render_maze(t, 2, 3))
    wrapped = render_evolution(steps, lambda t: render_maze(t, 2, 3), columns=2)
    assert strip.shape[1] == 3 * one.shape[1] + 4 * 12
    assert wrapped.shape[1] == 2 * one.shape[1] + 3 * 12 and wrapped.shape[0] == 2 * strip.shape[0]
    # The pictures are in step order: the path grows in cell (0, 2) only in the last one.
    last_left = strip.shape[1] - 12 - one.shape[1]
    np.testing.assert_array_equal(
        strip[22 : 22 + one.shape[0], last_left : last_left + one.shape[1]], render_maze(steps[2], 2, 3)
    )
    same = render_evolution([one, one], step_labels=["a", "b"])
    assert same.shape == (22 + one.shape[0] + 12, 2 * one.shape[1] + 3 * 12, 3)
    # each step's halt probability is written into its title; the pictures below stay the same
    titled = render_evolution([one, one], step_labels=["a", "b"], halt_probabilities=[0.1, 0.97])
    expected = render_evolution([one, one], step_labels=["a p 0.10", "b p 0.97"])
    np.testing.assert_array_equal(titled, expected)
    assert not np.array_equal(titled[:22], same[:22]) and np.array_equal(titled[22:], same[22:])


def test_save_png_reads_back(tmp_path):
    image = render_arc_grid(np.arange(10).reshape(2, 5))
    path = save_png(image, tmp_path / "sub" / "arc.png")
    assert path.exists()
    with Image.open(path) as png:
        assert png.format == "PNG" and png.mode == "RGB"
        np.testing.assert_array_equal(np.asarray(png), image)
