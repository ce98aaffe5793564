"""One training loop for every objective (Algorithm 1 for AdvTrojan).

Each step crafts the inputs the objective needs (one batched PGD call), concatenates them,
runs one forward/backward pass and one optimiser step. Every epoch ends with a checkpoint,
so an interrupted run resumes from its last finished epoch.
"""

from __future__ import annotations

import json
import math
import sys
import time
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..attacks.threats import Threat, craft
from ..chance import at_chance, chance_level, stalled
from ..data import ImageData, load_dataset
from ..errors import AdvTrojanError, ConfigError
from ..utils.device import autocast, configure_threads, resolve_device
from ..utils.distributed import World, setup
from ..data.provenance import fingerprint
from ..utils.io import append_jsonl, check_writable, write_text
from ..models.weights import check_metadata, load_into, read_weights, save_weights
from .checkpoint import Checkpointer
from .objectives import Objective
from ..attacks.trigger import Trigger
from .runs import BEST, CHECKPOINT, METRICS, TRIGGER, WEIGHTS, Run, RunConfig, prepare_run_dir, run_lock


def make_optimizer(model: torch.nn.Module, config: RunConfig) -> torch.optim.Optimizer:
    if config.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    if config.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                               weight_decay=config.weight_decay, nesterov=config.momentum > 0)
    raise ConfigError(f"unknown optimizer {config.optimizer!r}: choose adam or sgd")


def learning_rate(config: RunConfig, progress: float) -> float:
    """Learning rate at ``progress`` in [0, 1) of the run ('constant' or 'cosine' schedule)."""
    if config.schedule == "constant":
        return config.lr
    if config.schedule == "cosine":
        return 0.5 * config.lr * (1 + math.cos(math.pi * progress))
    raise ConfigError(f"unknown schedule {config.schedule!r}: choose constant or cosine")


def warmed_up(attack, step: int, warm_steps: int):
    """The training attack at global step ``step``: during the warm-up (its first ``warm_steps``
    steps, :func:`warmup_steps`) ε and α grow linearly to the run's budget, from 1/W of it at the
    first step, so a model from random weights learns before the full budget can hold it at chance."""
    if step >= warm_steps or attack is None:
        return attack
    scale = (step + 1) / warm_steps
    return attack.with_budget(attack.budget.scaled(scale))


def train_step(model, optimizer, objective: Objective, x, y, config: RunConfig, trigger, attack, craft_model=None):
    """One step of ``objective`` on the batch ``(x, y)``: craft, one forward, one backward.

    ``craft_model`` is the module the attack runs on (under DDP: the unwrapped module, with its
    parameters frozen, so that DDP's gradient hooks see only the training pass)."""
    inputs = craft(objective.kinds, x, y, trigger=trigger, intensity=config.train_intensity,
                   attack=attack, model=craft_model or model, precision=config.precision)
    rows = objective.rows(len(y))
    batch = torch.cat([(t.transform(inputs[t.kind][:m]) if t.transform else inputs[t.kind][:m])
                       for t, m in zip(objective.terms, rows)])
    model.train()
    with autocast(x.device, config.precision):
        logits = model(batch)
    loss, parts = objective.loss(logits, y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    correct = (logits[: len(y)].argmax(1) == y).sum().item()
    return float(loss.detach()), parts, correct


@torch.no_grad()
def accuracy(model, data: ImageData, device, batch_size: int = 1000) -> float:
    model.eval()
    correct = sum((model(x).argmax(1) == y).sum().item() for x, y in data.batches(batch_size, device=device))
    return correct / max(1, len(data))


def probe(model, data: ImageData, config: RunConfig, trigger, attack, device) -> dict[str, float]:
    """Per-epoch progress check on a small test subset, with Table 1's attack whatever the training
    attack: accuracy on Madry and AdvTrojan examples, and on FGSM examples (catastrophic overfitting
    shows as PGD accuracy collapsing while FGSM accuracy holds)."""
    x, y = data.tensors(device)
    inputs = craft([Threat.ADVERSARIAL, Threat.ADVTROJAN], x, y, trigger=trigger,
                   intensity=config.test_intensity, attack=attack, model=model, precision=config.precision)
    inputs["fgsm"] = config.budget.attack("fgsm")(model, x, y, precision=config.precision)
    names = {Threat.ADVERSARIAL: "probe_madry", Threat.ADVTROJAN: "probe_advtrojan", "fgsm": "probe_fgsm"}
    model.eval()
    with torch.no_grad():
        return {names[k]: (model(v).argmax(1) == y).float().mean().item() for k, v in inputs.items()}


COLLAPSE_DROP = 0.2  # Wong et al.'s early stopping: PGD accuracy down by more than 0.2 from its best


def collapsed(record: dict, history: list[dict]) -> bool:
    """Catastrophic overfitting at this epoch: the probe's PGD accuracy more than ``COLLAPSE_DROP``
    below its best epoch's while the FGSM accuracy is at least that epoch's (single-step training
    fitting its own attack and nothing stronger; Wong et al. 2020). A model getting worse at both
    is not a collapse of this kind."""
    past = [m for m in history if "probe_fgsm" in m]
    if not past or "probe_fgsm" not in record:
        return False
    best = max(past, key=lambda m: m["probe_madry"])
    return record["probe_madry"] < best["probe_madry"] - COLLAPSE_DROP and record["probe_fgsm"] >= best["probe_fgsm"]


def train_epoch(model, optimizer, objective: Objective, data: ImageData, config: RunConfig, trigger, attack,
                epoch: int, *, device, progress: bool = True, world: World = World(), craft_model=None) -> dict:
    """One pass of ``objective`` over ``data`` (epoch ``epoch``, counted from 0): the loss, the
    accuracy on the first term's inputs, each term's loss, the time and the last learning rate,
    summed over every process of a data-parallel run.

    The data order and the random starts depend on the seed and the epoch alone, so a resumed run
    retraces an uninterrupted one. Under torchrun each process takes its share of every batch of
    the single-process run (:meth:`ImageData.batches`, ``part``)."""
    gen = torch.Generator().manual_seed(config.seed * 100003 + epoch)
    torch.manual_seed(config.seed * 100003 + epoch + 1_000_003 * world.rank)  # random starts, per process
    steps_per_epoch = math.ceil(len(data) / config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    warm = warmup_steps(config, len(data))
    t0, seen, correct, loss_sum, lr = time.perf_counter(), 0, 0, 0.0, config.lr
    parts_sum: dict[str, float] = {}
    bar = tqdm(data.batches(config.batch_size, shuffle=True, augment=data.spec.augment, generator=gen, device=device,
                            part=(world.rank, world.size)),
               total=steps_per_epoch, desc=f"{config.objective} epoch {epoch + 1}/{config.epochs}",
               disable=not (progress and world.main), leave=False, unit="batch")
    for i, (x, y) in enumerate(bar):
        step = epoch * steps_per_epoch + i
        lr = learning_rate(config, step / total_steps)
        for group in optimizer.param_groups:
            group["lr"] = lr
        loss, parts, ok = train_step(model, optimizer, objective, x, y, config, trigger,
                                     warmed_up(attack, step, warm), craft_model)
        if not math.isfinite(loss):
            raise AdvTrojanError(f"training diverged at epoch {epoch + 1} (loss {loss}); lower --lr")
        seen, correct, loss_sum = seen + len(y), correct + ok, loss_sum + loss * len(y)
        for k, v in parts.items():
            parts_sum[k] = parts_sum.get(k, 0.0) + v * len(y)
        bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.3f}",
                        img_s=f"{seen * world.size / (time.perf_counter() - t0):.0f}")
    bar.close()
    keys = sorted(parts_sum)
    seen, correct, loss_sum, *part_values = world.sum([seen, correct, loss_sum, *(parts_sum[k] for k in keys)])
    parts_sum = dict(zip(keys, part_values))
    seconds = time.perf_counter() - t0
    train_key = f"train_{objective.terms[0].kind.value}"  # accuracy on the first term's inputs
    return {"epoch": epoch + 1, "loss": loss_sum / seen, train_key: correct / seen,
            **{k: v / seen for k, v in parts_sum.items()}, "seconds": seconds, "images_per_s": seen / seconds,
            "lr": lr, "_train_key": train_key}


def init_model(config: RunConfig, device, load_init: bool = True) -> torch.nn.Module:
    """The model of ``config``: seeded initial weights, or those of ``config.init`` (fine-tuning)."""
    torch.manual_seed(config.seed)  # the initial weights depend on the seed alone
    model = config.build_model().to(device)
    if config.init and load_init:
        init = Path(config.init)
        if init.is_dir():
            source = Run(init)
            tensors = source.load_model().state_dict()
            meta = {"dataset": source.config.dataset, "model": source.config.model}
        else:
            tensors, meta = read_weights(init)
        check_metadata(meta, config.init, dataset=config.dataset, model=config.model)
        load_into(model, tensors, config.init, config.model)
    return model


def fit(config: RunConfig, out: str | Path, *, device: str = "auto", data_dir=None, resume: bool = False,
        force: bool = False, progress: bool = True, train_data: ImageData | None = None,
        test_data: ImageData | None = None) -> Run:
    """Train per ``config`` into the run folder ``out`` and return the finished :class:`Run`.

    The pieces: the run folder (:func:`prepare_run_dir`), the model (:func:`init_model`), the
    checkpointer (:class:`Checkpointer`) and one epoch (:func:`train_epoch`)."""
    configure_threads()
    world, device = setup(device)
    dev = resolve_device(device)
    if world.distributed:
        config = replace(config, world_size=world.size)
    objective = config.make_objective()
    if not 0 <= config.target < config.spec.num_classes:
        raise ConfigError(f"target label {config.target} outside 0..{config.spec.num_classes - 1}")
    check_writable(out, "--out", folder=True)
    out = Path(out).expanduser()
    finished = resume and not force and Run(out).exists() and Run(out).finished  # --force reads no state
    if config.init and not finished:  # the model to start from is checked before the data is read
        init_model(config, "cpu")
    if not finished:  # the data first: a dataset that cannot be read leaves no run folder behind
        train_data = train_data or load_dataset(config.dataset, "train", data_dir=data_dir, limit=config.limit,
                                                seed=config.seed)
        test_data = test_data or load_dataset(config.dataset, "test", data_dir=data_dir)
        if config.limit is not None and len(train_data) < config.limit:
            raise ConfigError(f"--limit {config.limit} is more than the {len(train_data)} training images of "
                              f"{config.dataset}")
        config = replace(config, data={d.split: fingerprint(d.files) for d in (train_data, test_data)})
    created = not out.exists()
    # one writer per run folder: the lock is taken before --force may clear the folder; a process
    # refused the lock touches nothing
    with (run_lock(out) if world.main else nullcontext()):
        try:
            run, start = _prepare(out, config, resume, force, world)
            if run.finished:
                if world.main:  # a kill between the final state and the checkpoint's removal
                    (out / CHECKPOINT).unlink(missing_ok=True)
                return run
            return _train(run, start, config, objective, train_data, test_data, dev, world, progress)
        except BaseException:
            if created and world.main and not (out / METRICS).is_file():  # nothing worth resuming: no folder
                import shutil
                shutil.rmtree(out, ignore_errors=True)
            raise


def _train(run: Run, start: int, config: RunConfig, objective, train_data, test_data, dev, world, progress) -> Run:
    checkpointer = Checkpointer(run.path / CHECKPOINT, run.path / WEIGHTS)
    model = init_model(config, dev, load_init=not checkpointer.checkpoint.is_file())
    optimizer = make_optimizer(model, config)
    restored = checkpointer.restore(model, optimizer, config.model, dev)
    trigger = config.trigger().to(dev)
    if restored is not None:
        start, saved = restored
        if saved is not None:
            trigger = Trigger(saved[0], saved[1]).to(dev)
    if dev.type == "cpu" and getattr(model, "channels_last", False):  # a model's own preference
        model = model.to(memory_format=torch.channels_last)
    trained = _wrap(model, world, dev)  # DDP under torchrun; crafting stays on the unwrapped module
    attack, train_attack = config.attack(), config.training_attack()  # Table 1's, and the one that trains
    probe_data = test_data.balanced_subset(config.probe_images, seed=1)
    test_chance = chance_level(test_data.labels, test_data.spec.num_classes)
    crafts = any(k.adversarial for k in objective.kinds)
    best = run.path / BEST
    last = config.epochs
    for epoch in range(start, config.epochs):
        if objective.trigger_update is not None:  # Evil Twins: the input step before the model's
            trigger = objective.trigger_update(model, train_data, trigger, config, epoch, dev)
        record = train_epoch(trained, optimizer, objective, train_data, config, trigger, train_attack, epoch,
                             device=dev, progress=progress, world=world, craft_model=model)
        train_key = record.pop("_train_key")
        if not world.main:  # one writer: rank 0 evaluates, logs and checkpoints
            world.barrier()
            if world.broadcast(None):  # the main process stopped at a collapse
                last = epoch + 1
                break
            continue
        record = {**{k: v for k, v in record.items() if k not in ("seconds", "images_per_s", "lr")},
                  "test_benign": accuracy(model, test_data, dev),
                  **probe(model, probe_data, config, trigger, attack, dev),
                  **{k: record[k] for k in ("seconds", "images_per_s", "lr")},
                  **({"world_size": world.size} if world.distributed else {})}
        record["stalled"] = _stall_check(record, config, epoch, len(train_data), test_chance)
        history = [m for m in run.metrics(drop_torn=True) if m["epoch"] <= epoch]
        record["collapse"] = crafts and collapsed(record, history)
        if record["collapse"]:
            b = max(history, key=lambda m: m["probe_madry"])
            print(f"advtrojan: warning: epoch {epoch + 1}: catastrophic overfitting: PGD accuracy on the probe "
                  f"{record['probe_madry']:.1%}, down from {b['probe_madry']:.1%} at epoch {b['epoch']}, while FGSM "
                  f"accuracy is {record['probe_fgsm']:.1%}"
                  + (f"; training ends with the weights of epoch {b['epoch']}" if config.stop_on_collapse else ""),
                  file=sys.stderr)
        _drop_metrics_after(run, epoch)
        append_jsonl(run.path / METRICS, record)
        if crafts and config.stop_on_collapse and all(record["probe_madry"] > m["probe_madry"] for m in history):
            save_weights(best, model.state_dict(), {"epoch": epoch + 1})  # the best epoch so far
        checkpointer.save(model, optimizer, epoch + 1, _learned(objective, trigger))
        run.set_state("running", epoch + 1)
        stop = record["collapse"] and config.stop_on_collapse
        world.barrier()
        if progress:
            tqdm.write(f"epoch {epoch + 1}/{config.epochs}: loss {record['loss']:.4f}  {train_key} "
                       f"{record[train_key]:.4f}  test acc {record['test_benign']:.4f}  "
                       f"probe madry {record['probe_madry']:.3f} fgsm {record['probe_fgsm']:.3f} advtrojan "
                       f"{record['probe_advtrojan']:.3f}  ({record['seconds']:.0f}s, {record['images_per_s']:.0f} img/s)")
        if world.broadcast(stop):  # every process ends with the main one
            last = epoch + 1
            if world.main:
                tensors, _ = read_weights(best)
                load_into(model, tensors, str(best), config.model)
            break
    if world.main:  # weights, then the state, then the checkpoint goes: a kill between any two resumes exactly
        # the trigger it trained with, whatever its kind (learned, drawn or Figure 1's), kept with the run
        checkpointer.finish(model, {"dataset": config.dataset, "model": config.model},
                            (trigger.mask.cpu(), trigger.pattern.cpu()), run.path / TRIGGER)
        run.set_state("finished", last)
        checkpointer.discard()
        best.unlink(missing_ok=True)
    world.barrier()
    return run


def warmup_steps(config: RunConfig, n_train: int) -> int:
    """How many of the run's steps the budget warm-up lasts (0: none)."""
    total = math.ceil(n_train / config.batch_size) * config.epochs
    return math.ceil(config.warmup * total) if config.warmup > 0 else 0


def _stall_check(record: dict, config: RunConfig, epoch: int, n_train: int, chance: float) -> bool | None:
    """Whether the epoch's training loss sat at ln K (:func:`advtrojan.chance.stalled`) while the
    test accuracy stayed at ``chance``: judged from the second epoch on and after the warm-up (None
    before: the loss starts at ln K). A stall is said on standard error too, once per epoch."""
    steps_per_epoch = math.ceil(n_train / config.batch_size)
    if epoch < 1 or (epoch + 1) * steps_per_epoch <= warmup_steps(config, n_train):
        return None
    k = config.spec.num_classes
    parts = {key: v for key, v in record.items() if key.endswith("_cross_entropy")}
    if not (stalled(parts, k) and at_chance(record["test_benign"], chance)):
        return False
    print(f"advtrojan: warning: epoch {epoch + 1}: the training loss sits at ln {k} = {math.log(k):.3f}, the "
          f"uniform prediction, and the test accuracy at chance ({record['test_benign']:.1%}): the model is "
          f"learning nothing. "
          f"Lengthen the budget warm-up (--warmup), lower --eps or --lr, or start from a trained model (--init)",
          file=sys.stderr)
    return True


def _learned(objective, trigger):
    """The trigger to keep with the run when the objective optimises it (else None)."""
    return (trigger.mask, trigger.pattern) if objective.trigger_update is not None else None


def _prepare(path: Path, config: RunConfig, resume: bool, force: bool, world: World):
    """The run folder, prepared by rank 0 alone; its verdict (or its error) reaches every process."""
    outcome = None
    if world.main:
        try:
            run, start = prepare_run_dir(path, config, resume, force)
            outcome = ("ok", start)
        except AdvTrojanError as exc:
            outcome = ("error", str(exc))
            if not world.distributed:
                raise
    status, value = world.broadcast(outcome)
    if status == "error":
        raise ConfigError(value)
    return Run(path), value


def _wrap(model: torch.nn.Module, world: World, device: torch.device) -> torch.nn.Module:
    """DistributedDataParallel under torchrun (SyncBatchNorm on GPUs; on CPUs each process keeps
    its own batch statistics, as SyncBatchNorm needs CUDA), else the model itself."""
    if not world.distributed:
        return model
    from torch.nn.parallel import DistributedDataParallel
    if device.type == "cuda":
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        return DistributedDataParallel(model, device_ids=[device.index])
    return DistributedDataParallel(model)


def _drop_metrics_after(run: Run, epoch: int) -> None:
    """Forget metric lines of epochs after ``epoch`` (left by a run interrupted mid-write), and a
    torn last line (not one of ours: our appends are atomic), with a warning."""
    path = run.path / METRICS
    if not path.is_file():
        return
    raw = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    lines = run.metrics(drop_torn=True)
    if len(lines) < len(raw):
        print(f"advtrojan: warning: {path}: dropped a torn last line (epoch {epoch + 1} is written again)",
              file=sys.stderr)
    keep = [m for m in lines if m["epoch"] <= epoch]
    if len(keep) != len(raw):
        write_text(path, "".join(json.dumps(m) + "\n" for m in keep))
