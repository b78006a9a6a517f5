"""Training batches of a file read in chunks (`data.streaming`), for the trainer.

`shuffled_training_blocks` (diffexp/data/streaming.py) yields encoded events in blocks of
steps_per_execution optimizer steps; a `tf.data` pipeline runs it in a background thread
with `prefetch`, so the next block is read, checked and encoded while the current one
trains. The trainer asks for `n` steps at a time (`next_steps`); a request shorter than a
block (an epoch's last call) keeps the rest for the next one, so every event of the sequence
is trained on once and the sequence goes on across epochs. The diffusion step t and the noise
are still drawn in the compiled step from the trainer's checkpointed generator.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf

from diffexp.data import EventTransform
from diffexp.data.streaming import StreamedEvents, blocks_per_pass, shuffled_training_blocks

PREFETCH_BLOCKS = 4  # blocks read ahead: a few steps of latency hidden, a few MB held


@dataclass(frozen=True)
class TrainingStream:
    """What a streamed run trains on: the file's training events, their normalisation and
    how they are shuffled."""

    events: StreamedEvents = field(repr=False)
    transform: EventTransform = field(repr=False)
    shuffle_chunks: int
    seed: int

    def step_batches(
        self, batch_size: int, accumulation_steps: int, block_steps: int, start_step: int = 0
    ) -> StepBatches:
        return StepBatches(self, batch_size, accumulation_steps, block_steps, start_step)


class StepBatches:
    """Batches [n_steps, accumulation_steps, micro_batch, ...] in stream order."""

    def __init__(
        self,
        stream: TrainingStream,
        batch_size: int,
        accumulation_steps: int,
        block_steps: int,
        start_step: int = 0,
    ) -> None:
        self.step_shape = (accumulation_steps, batch_size // accumulation_steps)
        self.step_events = batch_size
        start_block, self._skip_steps = divmod(start_step, block_steps)
        block_events = block_steps * batch_size
        blocks_per_pass(stream.events, block_events)  # too few events: one line, here
        n_pmt, n_conditions = stream.events.n_pmt, len(stream.events.condition_names)

        def blocks():
            yield from shuffled_training_blocks(
                stream.events,
                stream.transform.encode,
                block_events,
                stream.shuffle_chunks,
                stream.seed,
                start_block,
            )

        signature = (
            tf.TensorSpec((block_events, n_pmt), tf.float32),
            tf.TensorSpec((block_events, n_conditions), tf.float32),
        )
        dataset = tf.data.Dataset.from_generator(blocks, output_signature=signature)
        self._iterator = iter(dataset.prefetch(PREFETCH_BLOCKS))
        self._x = np.zeros((0, n_pmt), np.float32)
        self._c = np.zeros((0, n_conditions), np.float32)

    def next_steps(self, n_steps: int) -> tuple[np.ndarray, np.ndarray]:
        """The events of the next `n_steps` optimizer steps, shaped per step."""
        needed = n_steps * self.step_events
        while len(self._x) < needed + self._skip_steps * self.step_events:
            x, c = next(self._iterator)
            self._x = np.concatenate([self._x, x.numpy()])
            self._c = np.concatenate([self._c, c.numpy()])
        if self._skip_steps:  # a resumed run: the steps trained before the checkpoint
            skipped = self._skip_steps * self.step_events
            self._x, self._c, self._skip_steps = self._x[skipped:], self._c[skipped:], 0
        x, self._x = self._x[:needed], self._x[needed:]
        c, self._c = self._c[:needed], self._c[needed:]
        return (
            x.reshape(n_steps, *self.step_shape, -1),
            c.reshape(n_steps, *self.step_shape, -1),
        )
