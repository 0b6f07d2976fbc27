"""The command line of a recipe (`keras-trm train <recipe> ...`): every setting with its type, default and meaning.

`recipe_parser(cls)` is the argparse parser (program name `keras-trm train <recipe>`): `--size`, `--variant`,
`--set KEY=VALUE`, `--<setting> VALUE`, `--print-config`, and what to do with an existing `out_dir` (`--overwrite`,
`--resume`); `parse_run_args(cls, argv)` turns a command line into the config (resolved by
`keras_trm.recipes.config.make_config`) and those choices. The meaning of a shared setting is `SETTING_HELP`; a
benchmark's own settings are read from the "fields" block of its config's docstring.

Example:
>>> from keras_trm.recipes.sudoku import SudokuConfig
>>> args = parse_run_args(SudokuConfig, ["--size", "smoke", "--grid", "6", "--overwrite"])
>>> args.config.grid, args.config.size, args.mode, args.print_config
(6, 'smoke', 'overwrite', False)
>>> recipe_parser(SudokuConfig).prog
'keras-trm train sudoku'
"""

import argparse
import dataclasses
import re
from dataclasses import fields

from keras_trm.recipes.config import make_config

SETTING_HELP = {
    "out_dir": "folder of the run's files (default: runs/<recipe>-<variant>-<size>[-<hash of changed settings>])",
    "data_dir": "built dataset folder (default: <out_dir>/data, built when missing)",
    "seed": "seeds the data build, the initialisation and the sampler",
    "verbose": "0: evaluation lines only; 1: also progress bars",
    "hidden_dim": "width D of the network",
    "num_heads": "attention heads (hidden_dim must be a multiple)",
    "num_layers": "layers of the reasoning block",
    "expansion": "SwiGLU width as a multiple of hidden_dim",
    "H_cycles": "T: answer updates per supervision step",
    "L_cycles": "n: latent updates per answer update",
    "mlp_t": "TRM-MLP: mix across the sequence with a SwiGLU instead of attention",
    "pos_encodings": "position encoding: rope, learned or none",
    "puzzle_emb_len": "puzzle-embedding positions in front of the sequence",
    "halt_max_steps": "N_sup: supervision steps per puzzle",
    "halt_exploration_prob": "chance a training row must run a random minimum of steps",
    "token_loss": "per-token cross-entropy: stablemax or softmax",
    "dtype": "Keras dtype policy (float32, mixed_bfloat16, ...)",
    "global_batch_size": "examples per optimizer step (all devices together)",
    "learning_rate": "peak learning rate of the network (AdamATan2)",
    "puzzle_emb_learning_rate": "learning rate of the puzzle embeddings (sign-SGD)",
    "weight_decay": "weight decay of the network",
    "puzzle_emb_weight_decay": "weight decay of the puzzle embeddings",
    "warmup_steps": "linear warm-up steps of the learning rate",
    "lr_min_ratio": "cosine decay ends at this share of the rate",
    "beta_1": "Adam beta_1",
    "beta_2": "Adam beta_2",
    "ema": "evaluate and save an exponential moving average of the weights",
    "ema_momentum": "momentum of that average",
    "epochs": "official epochs: passes over the training groups",
    "eval_interval": "official epochs between evaluations (must divide epochs)",
    "max_steps": "> 0: train this many optimizer steps instead of epochs",
    "eval_every_steps": "with max_steps: steps between evaluations (0: only at the end)",
    "eval_batch_size": "evaluation batch (0: global_batch_size)",
    "eval_max_examples": "test examples of each periodic evaluation (0: all); the final one uses all",
    "tensorboard": "write TensorBoard logs under <out_dir>/logs",
    "checkpoints": "keep the last and the best checkpoint under <out_dir>/checkpoints",
}
"""One line of meaning per setting every recipe shares (`TRMConfig`'s fields)."""

_FIELD_LINE = re.compile(r"^\s{4,}(\w+): ([^.]+)\.\s*(.*)$")


def docstring_settings(cls):
    """{setting: meaning} from the `name: type. meaning` lines of a config class's docstrings (its and its bases')."""
    out = {}
    for klass in reversed(cls.__mro__):
        lines = (klass.__doc__ or "").splitlines()
        names = {f.name for f in fields(cls)} if dataclasses.is_dataclass(cls) else set()
        current = None
        for line in lines:
            m = _FIELD_LINE.match(line)
            if m and m.group(1) in names:
                current = m.group(1)
                out[current] = m.group(3).strip()
            elif current and line.startswith(" " * 12) and line.strip():
                out[current] += " " + line.strip()
            else:
                current = None
    return out


def _type_name(ftype):
    text = ftype if isinstance(ftype, str) else getattr(ftype, "__name__", repr(ftype))
    text = text.replace("typing.", "")
    m = re.match(r"Optional\[(\w+)\]", text)
    return f"{m.group(1)} or none" if m else text


def _meaning(text):
    """The first sentence of a docstring meaning, without its "(default ...)" part (the parser shows the default)."""
    text = re.sub(r"\s*\(default[^)]*\)", "", text).strip()
    return text.rstrip(".")


def recipe_parser(cls, description=None):
    """The argparse parser of a recipe (`keras-trm train <cls.NAME>`); each setting's help: type, default, meaning.

    Args:
        cls: type. A `TRMConfig` subclass.
        description: str or None. The text above the settings (default None: the first paragraph of `cls`'s
            docstring).
    """
    doc = (cls.__doc__ or "").strip().split("\n\n")[0]
    p = argparse.ArgumentParser(
        prog=f"keras-trm train {cls.NAME}",
        description=description or doc,
        epilog="Settings resolve in this order: the defaults (the paper's), the variant, the size, then the command "
        "line. An existing out_dir is reused only when its run_settings.json matches.",
    )
    names = {f.name for f in fields(cls)}
    sizes = ", ".join(sorted(cls.SIZES))
    p.add_argument("--size", choices=sorted(cls.SIZES), default=None, help=f"named size: {sizes} (default: paper)")
    if len(cls.VARIANTS) > 1:
        default_variant = next(f.default for f in fields(cls) if f.name == "variant")
        p.add_argument(
            "--variant",
            choices=sorted(cls.VARIANTS),
            default=None,
            help=f"named variant (default: {default_variant})",
        )
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override any setting below")
    p.add_argument("--print-config", action="store_true", help="print the resolved settings and exit")
    out = p.add_mutually_exclusive_group()
    out.add_argument(
        "--overwrite", action="store_true", help="delete the earlier run's files in out_dir and start afresh"
    )
    out.add_argument(
        "--resume",
        action="store_true",
        help="continue the earlier run in out_dir (its settings must be the same; its evaluations are kept)",
    )
    meanings = {**docstring_settings(cls), **SETTING_HELP}
    g = p.add_argument_group("settings (--<name> VALUE or --set <name>=VALUE; defaults are the paper's)")
    for f in fields(cls):
        if f.name in ("size", "variant") or f.name not in names:
            continue
        default = f.default if f.default is not dataclasses.MISSING else None
        meaning = _meaning(meanings.get(f.name, ""))
        g.add_argument(
            f"--{f.name}",
            dest=f"field_{f.name}",
            default=None,
            metavar=_type_name(f.type).split()[0].upper(),
            help=f"{_type_name(f.type)}, default {default!r}" + (f": {meaning}" if meaning else ""),
        )
    return p


@dataclasses.dataclass
class RunArgs:
    """A parsed recipe command line.

    Attributes:
        config: TRMConfig. The settings (not resolved).
        print_config: bool. Print the resolved settings and exit.
        mode: str or None. "overwrite", "resume" or None (see `keras_trm.recipes.run_state.prepare_out_dir`).
    """

    config: object
    print_config: bool = False
    mode: str = None


def parse_run_args(cls, argv=None):
    """Parse a recipe's command line into a `RunArgs`; a bad argument or setting exits with status 2 (argparse).

    Args:
        cls: type. A `TRMConfig` subclass.
        argv: list of str or None. The arguments (default None: `sys.argv[1:]`).
    """
    p = recipe_parser(cls)
    args = p.parse_args(argv)
    overrides = {}
    for item in args.set:
        if "=" not in item:
            p.error(f"--set expects KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        overrides[key.strip()] = value.strip()
    for f in fields(cls):
        value = getattr(args, f"field_{f.name}", None)
        if value is not None:
            overrides[f.name] = value
    try:
        cfg = make_config(cls, args.size, getattr(args, "variant", None), overrides)
    except (ValueError, argparse.ArgumentTypeError) as e:
        p.error(str(e))
    mode = "overwrite" if args.overwrite else "resume" if args.resume else None
    return RunArgs(cfg, args.print_config, mode)


def parse_config(cls, argv=None):
    """`parse_run_args` as (config, print_only): the settings of a recipe's command line and `--print-config`.

    Example:
    >>> from keras_trm.recipes.config import TRMConfig
    >>> cfg, print_only = parse_config(TRMConfig, ["--set", "hidden_dim=96", "--learning_rate", "2e-3"])
    >>> cfg.hidden_dim, cfg.learning_rate, print_only
    (96, 0.002, False)
    """
    run = parse_run_args(cls, argv)
    return run.config, run.print_config
