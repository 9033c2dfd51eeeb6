"""Decoding generator outputs into text: argmax per position (default) or temperature sampling.

`load_generator` gives a `TextGenerator` from a checkpoint file, a run folder, or (nothing)
the newest run under checkpoints/ or runs/, else the generator shipped with the package.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .assets import shipped_models
from .charset import PAD, Charset
from .checkpoint import find_checkpoint, sampling_weights
from .config import Config
from .device import tf32
from .errors import (
    MAX_STEPS,
    InputError,
    as_path,
    check_int,
    check_seed,
    check_temperature,
    check_truncation,
    setting,
)
from .latent import (
    Prompted,
    critic_scores,
    fixed_positions,
    meets,
    resampled,
    search_noise,
    slerp,
    top_of_each,
    truncate,
)
from .modelfolder import hub_folder, is_hub_spec, load_any
from .models import Critic, Generator
from .ratio import Ratio
from .spec import SamplingSpec, sampling_spec
from .text import cut_at_pad

MAX_SAMPLES = 10_000_000  # per call; samples are made and written a batch at a time
BATCH = 1024  # samples per generator call: noise is drawn batch by batch from one stream
PROMPT_CHUNK = 64  # samples per prompt search: its memory is a chunk's, whatever n is


def check_sampling(n: int, seed: int, temperature: float) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InputError(f"{setting('n')} must be at least 1, got {n!r}")
    if n > MAX_SAMPLES:
        raise InputError(f"{setting('n')} {n:,} is more than one call makes ({MAX_SAMPLES:,}); "
                         f"sample several times with different {setting('seed')} values")
    check_seed(seed)
    check_temperature(temperature)


def id_batches(generator: Generator, n: int, seed: int = 0, temperature: float = 0.0,
               truncation: float = 1.0, batch_size: int = BATCH) -> Iterator[np.ndarray]:
    """(≤ batch_size, T) charset indices per batch, cut at the first pad, n in all: memory
    stays flat however large n is. Noise is drawn on the CPU from `seed` (moved toward its
    mean by `truncation` < 1), batch after batch from one stream, so the first k of n samples
    are the k samples of a call for k; the generator runs in full fp32 (TF32 off: on a GPU,
    cuDNN would otherwise round convolutions to TF32 and flip some argmaxes), so the same seed
    gives the same samples on any device."""
    check_sampling(n, seed, temperature)
    check_truncation(truncation)
    rng = torch.Generator().manual_seed(seed)
    picks = torch.Generator().manual_seed(picks_seed(seed))
    for start in range(0, n, batch_size):
        z = truncate(generator.noise(min(batch_size, n - start), generator=rng), truncation)
        with torch.no_grad(), tf32(False):
            yield cut_at_pad(_batch_ids(generator, z, picks, temperature), PAD)


def picks_seed(seed: int) -> int:
    """The seed of the stream a temperature draws its characters from: apart from the noise's
    stream (so each stream is read in sample order, whatever the batches), and from every
    other seed's noise."""
    return (seed * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) % (1 << 63)


def generate_ids(generator: Generator, n: int, seed: int = 0, temperature: float = 0.0,
                 batch_size: int = BATCH, truncation: float = 1.0) -> np.ndarray:
    """(n, T) charset indices, cut at the first pad (`id_batches`, all at once)."""
    return np.concatenate(list(id_batches(generator, n, seed, temperature, truncation,
                                          batch_size)))


@torch.no_grad()
def ids_of_noise(generator: Generator, z: torch.Tensor) -> np.ndarray:
    """(N, T) argmax ids of given noise (N, Z), cut at the first pad, in full fp32."""
    with tf32(False):
        return cut_at_pad(_batch_ids(generator, z, None, 0.0), PAD)


def _batch_ids(generator: Generator, z: torch.Tensor, picks: torch.Generator | None,
               temperature: float) -> np.ndarray:
    """(n, T) ids of one batch of CPU noise: argmax, or drawn at `temperature` with one
    uniform number per position from `picks` (inverse CDF: sample i's characters depend on
    its own draws alone)."""
    z = z.to(next(generator.parameters()).device)  # (B, Z)
    logits = generator.logits(z).float()  # (B, T, V)
    if temperature == 0:
        return logits.argmax(-1).cpu().numpy()  # (B, T)
    logits = logits.cpu()
    probs = torch.softmax(logits / temperature, dim=-1)  # (B, T, V)
    if not torch.isfinite(probs).all():  # so low a temperature that logits / T overflows:
        # the same distribution from logits shifted to a maximum of 0 (no inf − inf)
        probs = torch.softmax((logits - logits.amax(-1, keepdim=True)) / temperature, dim=-1)
    u = torch.rand(probs.shape[:2], generator=picks)  # (B, T)
    ids = (probs.cumsum(-1) < u[..., None]).sum(-1)  # (B, T): the first CDF step past u
    return ids.clamp_(max=probs.shape[-1] - 1).numpy()


@dataclass
class TextGenerator:
    """A trained generator with its charset: what sampling needs, nothing else."""

    generator: Generator
    charset: Charset
    config: Config
    source: Path  # the checkpoint file it came from
    step: int
    critic: Critic | None = None  # the run's critic, where the checkpoint kept one (reranking)
    # The checkpoint's corpus record (path or name, fingerprint, normalization): how the
    # training text was normalized, and which corpus its scores belong to.
    corpus: dict | None = None
    ratio: Ratio | None = None  # the calibrated density ratio of resampling, once fitted

    def ensure_ratio(self, note: Callable[[str], None] = lambda message: None) -> Ratio:
        """The density ratio `sir` resampling weighs by: the model's own, else one fitted now
        on the corpus it was trained on (kept on this object)."""
        self.check_can_rerank()
        if self.ratio is None:
            from .scoring import recorded_corpus

            self.ratio = self.fitted_ratio(recorded_corpus(self.corpus or {}, self.source),
                                           note=note)
        return self.ratio

    def fitted_ratio(self, corpus, steps: int | None = None,
                     note: Callable[[str], None] = lambda message: None) -> Ratio:
        """A density ratio fitted now on `corpus` (ratio.fit_ratio), from this generator's
        argmax samples."""
        from .ratio import FIT_STEPS, fit_ratio

        self.check_can_rerank()
        self.generator.eval()
        return fit_ratio(lambda n, seed: generate_ids(self.generator, n, seed), self.critic,
                         corpus, steps or FIT_STEPS, note)

    @property
    def lowercased(self) -> bool:
        """Its training text was lowercased while preparing (`prepare --lowercase`)."""
        return bool(((self.corpus or {}).get("normalization") or {}).get("lowercase"))

    def prompt_text(self, prompt: str) -> tuple[str, str | None]:
        """A prompt as the generator's training text was normalized (lowercased where it
        was), and a note when that changed it."""
        if not isinstance(prompt, str) or not self.lowercased or prompt == prompt.lower():
            return prompt, None
        return prompt.lower(), (f"the prompt is lowercased to {prompt.lower()!r}, as this "
                                "generator's training text was")

    @property
    def shipped(self) -> str | None:
        """The name of the shipped generator this is (`textwgan models`), else None."""
        return next((name for name, folder in shipped_models().items()
                     if folder == self.source), None)

    def check_can_rerank(self, name: str = "rerank") -> None:
        if self.critic is None:
            raise InputError(f"{self.source}: holds no critic, so {setting(name)} has "
                             "nothing to rank with; use a run folder or an export made "
                             "with its critic")

    @property
    def seq_len(self) -> int:
        return self.config.model.seq_len

    def id_chunks(self, n: int, seed: int = 0, spec: SamplingSpec | None = None,
                  **knobs) -> Iterator[np.ndarray]:
        """(≤ BATCH, T) charset indices per chunk, n in all, cut at the first pad (see
        `sample`); memory stays flat in n."""
        spec = sampling_spec(spec, **knobs)
        self.generator.eval()
        if spec.rerank == 1:
            yield from id_batches(self.generator, n, seed, spec.temperature, spec.truncation)
            return
        self.check_can_rerank()
        check_sampling(n * spec.rerank, seed, spec.temperature)
        ratio = self.ensure_ratio() if spec.rule == "sir" else None
        draws = torch.Generator().manual_seed(picks_seed(picks_seed(seed)))
        k = spec.rerank
        per_chunk = max(1, BATCH // k)  # samples per chunk: whole groups of candidates
        for candidates in id_batches(self.generator, n * k, seed, spec.temperature,
                                     spec.truncation, batch_size=per_chunk * k):  # (m·K, T)
            groups = candidates.reshape(-1, k, candidates.shape[1])  # (m, K, T)
            if ratio is None:
                kept = top_of_each(critic_scores(self.critic, candidates).view(-1, k))
            else:
                kept = resampled(ratio.logits(candidates).view(-1, k), draws)
            yield groups[np.arange(len(groups)), kept]

    def sample_ids(self, n: int, seed: int = 0, spec: SamplingSpec | None = None,
                   **knobs) -> np.ndarray:
        """(n, T) charset indices, cut at the first pad (see `sample`)."""
        return np.concatenate(list(self.id_chunks(n, seed, spec, **knobs)))

    def sample_chunks(self, n: int, seed: int = 0, spec: SamplingSpec | None = None,
                      **knobs) -> Iterator[list[str]]:
        """`sample`, a chunk of texts at a time: what writes a million samples in flat
        memory."""
        spec = sampling_spec(spec, **knobs)
        if spec.prefix is not None:
            for found in self.complete_chunks(n, spec.prefix, seed=seed, restarts=spec.restarts,
                                              steps=spec.search_steps):
                yield found.texts
            return
        for ids in self.id_chunks(n, seed, spec):
            yield self.charset.decode_many(ids)

    def sample(self, n: int, seed: int = 0, spec: SamplingSpec | None = None,
               **knobs) -> list[str]:
        """n texts, drawn as `spec` says (default: argmax), or with its knobs given as
        keywords (`temperature=0.7`, `rerank=5`, `truncation=0.8`, `prefix="a man"`). The same
        seed gives the same texts, and the first k of n are the k of a call for k. `rerank` K
        draws K candidates per text and keeps one by the critic; `truncation` ψ < 1 draws the
        noise nearer its mean (less varied, more typical); a prefix is searched for in the
        noise (`complete` says which samples meet it)."""
        return [t for chunk in self.sample_chunks(n, seed, spec, **knobs) for t in chunk]

    def interpolate(self, seeds: tuple[int, int], steps: int = 8,
                    truncation: float = 1.0) -> list[str]:
        """Argmax texts along the great circle between two seeds' noise: the first and the
        last are the two seeds' own first samples (`sample(1, seed)`)."""
        check_truncation(truncation)
        if not isinstance(seeds, (tuple, list)) or len(seeds) != 2:
            raise InputError(f"{setting('seeds')} must be two seeds, got {seeds!r}")
        for seed in seeds:
            check_seed(seed)
        a, b = (truncate(self.generator.noise(1, generator=torch.Generator().manual_seed(seed)
                                              )[0], truncation) for seed in seeds)
        self.generator.eval()
        return self.charset.decode_many(ids_of_noise(self.generator, slerp(a, b, steps)))

    def complete(self, n: int, prefix: str | None = None, fixed: dict[int, str] | None = None,
                 seed: int = 0, restarts: int = 2, steps: int = 100) -> Prompted:
        """n texts whose argmax output holds the prompt: a prefix and/or characters fixed at
        any positions (`complete_chunks`, all at once)."""
        texts, met = [], []
        for found in self.complete_chunks(n, prefix, fixed, seed, restarts, steps):
            texts += found.texts
            met += found.met
        return Prompted(texts, met)

    def complete_chunks(self, n: int, prefix: str | None = None,
                        fixed: dict[int, str] | None = None, seed: int = 0, restarts: int = 2,
                        steps: int = 100) -> Iterator[Prompted]:
        """`complete`, PROMPT_CHUNK samples at a time. Searches noise by gradient descent from
        `restarts` starting points per sample and keeps each sample's first restart that meets
        the prompt exactly; a sample no restart met is flagged (`met` False). Sample i's
        starting points are the stream's draws i·R … i·R + R − 1, and every chunk has the same
        shape (the last one padded), so a sample's seed fixes its text whatever n is."""
        check_sampling(n, seed, 0.0)
        check_int("restarts", restarts, 1, 64)
        check_int("steps", steps, 1, MAX_STEPS)
        if prefix is not None:
            prefix, _ = self.prompt_text(prefix)
        targets = fixed_positions(self.charset, self.seq_len, prefix, fixed)
        self.generator.eval()
        rng = torch.Generator().manual_seed(seed)
        if self.continues_prompts and fixed is None:
            yield from self._prompted_chunks(n, targets, rng)
            return
        for start in range(0, n, PROMPT_CHUNK):
            m = min(PROMPT_CHUNK, n - start)
            z0 = self.generator.noise(PROMPT_CHUNK * restarts, generator=rng)  # (C·R, Z)
            with tf32(False):
                z = search_noise(self.generator, targets, z0, steps)
            ids = ids_of_noise(self.generator, z.cpu()).reshape(PROMPT_CHUNK, restarts, -1)
            ok = meets(ids.reshape(PROMPT_CHUNK * restarts, -1), targets).reshape(
                PROMPT_CHUNK, restarts)  # (C, R)
            first = np.where(ok.any(axis=1), ok.argmax(axis=1), 0)  # (C,) the restart kept
            chosen = ids[np.arange(PROMPT_CHUNK), first][:m]
            yield Prompted(self.charset.decode_many(chosen), ok.any(axis=1)[:m].tolist())

    @property
    def continues_prompts(self) -> bool:
        """Whether the generator was trained to continue a prefix (`train --infill`): it meets
        one in a single pass, where others search their noise for it."""
        return bool(self.config.model.infill)

    def _prompted_chunks(self, n: int, targets: dict[int, int], rng: torch.Generator,
                         ) -> Iterator[Prompted]:
        """An infill generator's texts for a prefix, PROMPT_CHUNK at a time (one noise draw
        per sample, the chunk padded as the search's is, so a seed fixes its text whatever n
        is). `met` is still checked on the argmax output."""
        device = next(self.generator.parameters()).device
        prompt = torch.zeros(PROMPT_CHUNK, self.seq_len, len(self.charset))  # (C, T, V)
        prompt[:, list(targets), list(targets.values())] = 1.0
        prompt = prompt.to(device)
        for start in range(0, n, PROMPT_CHUNK):
            m = min(PROMPT_CHUNK, n - start)
            z = self.generator.noise(PROMPT_CHUNK, generator=rng).to(device)  # (C, Z)
            with torch.no_grad(), tf32(False):
                ids = self.generator(z, prompt).argmax(-1).cpu().numpy()[:m]  # (m, T)
            yield Prompted(self.charset.decode_many(ids), meets(ids, targets).tolist())

    def __repr__(self) -> str:
        return (f"TextGenerator({str(self.source)!r}, step {self.step:,}, "
                f"{len(self.charset)} symbols, {self.seq_len} characters)")


def generator_from(ckpt: dict, source: Path, device: str | torch.device = "cpu",
                   ) -> TextGenerator:
    """The generator a loaded (and checked) checkpoint holds."""
    config = Config.from_dict(ckpt["config"])
    charset = Charset(ckpt["charset"])
    generator = Generator(config.model, len(charset))
    generator.load_state_dict(sampling_weights(ckpt))
    critic, ratio = None, None
    if "critic" in ckpt:
        critic = Critic(config.model, len(charset))
        critic.load_state_dict(ckpt["critic"])
        critic = critic.to(device).eval()
        if "ratio" in ckpt:
            from .ratio import ratio_from

            ratio = ratio_from(ckpt["ratio"], ckpt.get("ratio_record") or {}, critic)
    return TextGenerator(generator.to(device).eval(), charset, config, source, ckpt["step"],
                         critic, ckpt.get("corpus") or {}, ratio)


def load_generator(path_or_run: str | Path | None = None, *, device: str = "auto",
                   ) -> TextGenerator:
    """A generator from a checkpoint file, a run folder, a model folder, a shipped model by
    name (`textwgan models`: "coco", "news"), or the Hugging Face Hub
    (`hf:OWNER/NAME[@REVISION]`); None: the newest run under checkpoints/ or runs/, else the COCO
    generator shipped with textwgan. `device`: auto (a GPU when there is one), cpu, cuda:
    the same seed gives the same texts on any of them."""
    from .device import resolve_device

    dev = resolve_device(device)
    if is_hub_spec(path_or_run):
        source = hub_folder(path_or_run)
    else:
        source = find_checkpoint(None if path_or_run is None
                                 else as_path(path_or_run, "checkpoint"))
    return generator_from(load_any(source), source, dev)
