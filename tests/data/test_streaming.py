"""Files larger than memory (data.streaming): real HDF5 files and .npy folders written here,
read in chunks of a few hundred events, against the same file loaded whole."""

from __future__ import annotations

import dataclasses
import json
import zipfile

import h5py
import numpy as np
import pytest

from diffexp.data import DataError, EventTransform, load_events, simulate_events, train_val_split
from diffexp.data.moments import RunningMoments
from diffexp.data.npz_to_npy import unpack
from diffexp.data.streaming import open_streamed_events, shuffled_training_blocks
from tests.data.conftest import load_data_conf

N_EVENTS = 3000
CHUNK = 128  # events per read: the file is 24 chunks (the last one short)
NO_HIT = -2.0  # model=pmt's no_hit_log_charge


@pytest.fixture(scope="module")
def events():
    return simulate_events(load_data_conf("simulated"), N_EVENTS, seed=5)


@pytest.fixture(scope="module")
def files(events, tmp_path_factory):
    """{"hdf5": file, "npy": folder} holding the same events."""
    root = tmp_path_factory.mktemp("streaming")
    with h5py.File(root / "events.h5", "w") as handle:
        handle["charges"] = events.charges
        handle["conditions"] = events.conditions
        handle["condition_names"] = np.array(events.condition_names, dtype="S")
    folder = root / "events_npy"
    folder.mkdir()
    np.save(folder / "charges.npy", events.charges)
    np.save(folder / "conditions.npy", events.conditions)
    np.save(folder / "condition_names.npy", np.array(events.condition_names))
    return {"hdf5": str(root / "events.h5"), "npy": str(folder)}


def _cfg(files, source: str, streaming=True, **keys):
    return load_data_conf(
        source, path=files[source], streaming=streaming, chunk_events=CHUNK, **keys
    )


def _whole(files, source: str):
    cfg = _cfg(files, source, streaming=False)
    return train_val_split(load_events(cfg, None), cfg.val_fraction, cfg.seed)


@pytest.mark.parametrize("source", ["hdf5", "npy"])
def test_streamed_split_holds_the_same_events_as_the_in_memory_one(files, source):
    train, val = _whole(files, source)
    streamed = open_streamed_events(_cfg(files, source, streaming=True))
    assert (streamed.n_train, streamed.n_val) == (train.n_events, val.n_events) == (2700, 300)
    chunks = list(streamed.training_chunks())
    assert len(chunks) == -(-N_EVENTS // CHUNK)
    np.testing.assert_array_equal(np.concatenate([c.charges for c in chunks]), train.charges)
    np.testing.assert_array_equal(np.concatenate([c.conditions for c in chunks]), train.conditions)
    first_val = streamed.first_validation_events(120)
    np.testing.assert_array_equal(first_val.charges, val.charges[:120])
    np.testing.assert_array_equal(first_val.conditions, val.conditions[:120])
    assert first_val.condition_names == train.condition_names


@pytest.mark.parametrize("source", ["hdf5", "npy"])
def test_streamed_normalisation_equals_the_in_memory_one(files, source):
    train, _ = _whole(files, source)
    streamed = open_streamed_events(_cfg(files, source))
    whole = EventTransform.fit(train, no_hit_log_charge=NO_HIT)
    chunked = EventTransform.fit_chunks(streamed.training_chunks(), no_hit_log_charge=NO_HIT)
    for name in ("charge_mean", "charge_std", "condition_mean", "condition_std"):
        np.testing.assert_allclose(getattr(chunked, name), getattr(whole, name), rtol=1e-10)
    assert chunked.to_dict().keys() == whole.to_dict().keys()


def test_running_moments_of_uneven_chunks_equal_numpys():
    rows = np.random.default_rng(0).normal(1e4, 3.0, size=(1001, 5))  # large mean, small spread
    moments = RunningMoments()
    for start, stop in ((0, 1), (1, 400), (400, 400), (400, 1001)):
        moments.add(rows[start:stop])
    assert moments.count == 1001
    np.testing.assert_allclose(moments.mean, rows.mean(axis=0), rtol=1e-13)
    np.testing.assert_allclose(moments.std, rows.std(axis=0), rtol=1e-9)


def test_a_pass_trains_each_training_event_at_most_once_in_shuffled_order(files):
    streamed = open_streamed_events(_cfg(files, "hdf5"))
    block = 100
    encode = EventTransform.fit_chunks(streamed.training_chunks()).encode
    per_pass = streamed.n_train // block  # 27 blocks: 2700 events
    stream = shuffled_training_blocks(streamed, encode, block, shuffle_chunks=3, seed=1)
    first = np.concatenate([next(stream)[0] for _ in range(per_pass)])
    second = np.concatenate([next(stream)[0] for _ in range(per_pass)])
    train_x, _ = encode(_whole(files, "hdf5")[0])
    rows_of = {row.tobytes(): i for i, row in enumerate(train_x)}
    for one_pass in (first, second):
        indices = [rows_of[row.tobytes()] for row in one_pass]  # KeyError: not a training row
        assert len(set(indices)) == len(indices) == per_pass * block
        assert not np.all(np.diff(indices) > 0)  # shuffled, not in file order
    assert not np.array_equal(first, second)  # each pass in a new order
    again = shuffled_training_blocks(streamed, encode, block, shuffle_chunks=3, seed=1)
    np.testing.assert_array_equal(next(again)[0], first[:block])  # seeded


class CountingFile:
    """The event file, counting the rows of every read."""

    def __init__(self, file) -> None:
        self.file, self.reads = file, []

    def __getattr__(self, name):
        return getattr(self.file, name)

    def read(self, start: int, stop: int):
        self.reads.append(stop - start)
        return self.file.read(start, stop)


def test_preparing_and_training_never_read_more_than_a_chunk(files, tmp_path):
    from diffexp.config import compose_checked
    from diffexp.training.preparation import prepare_streamed_data

    cfg = compose_checked(_train_overrides(files, tmp_path, "true", "model.prior=learned"))
    streamed = open_streamed_events(cfg.data)
    counting = CountingFile(streamed.file)
    data = prepare_streamed_data(cfg, dataclasses.replace(streamed, file=counting))
    assert data.prior is not None  # the light model was fitted from chunks
    batches = data.stream.step_batches(32, 1, 10)
    for _ in range(12):  # 120 steps x 32 events: more than a pass (2700 events)
        batches.next_steps(10)
    assert counting.reads and max(counting.reads) <= CHUNK
    assert sum(counting.reads) > 2 * N_EVENTS  # statistics pass, light model, a whole pass


def test_light_model_subsample_is_bounded_seeded_and_from_the_training_split(files):
    streamed = open_streamed_events(_cfg(files, "hdf5"))
    train, _ = _whole(files, "hdf5")
    sample = streamed.training_subsample(500, seed=3)
    assert sample.n_events == 500
    rows = {row.tobytes() for row in train.charges}
    assert all(row.tobytes() in rows for row in sample.charges)
    np.testing.assert_array_equal(sample.charges, streamed.training_subsample(500, 3).charges)
    assert streamed.training_subsample(10**6, seed=3).n_events == train.n_events


def _train_overrides(files, tmp_path, streaming: str, *extra: str) -> list[str]:
    return [
        "profile=smoke",
        "data=hdf5",
        f"data.path={files['hdf5']}",
        f"data.streaming={streaming}",
        f"data.chunk_events={CHUNK}",
        "data.streamed_light_model_events=400",
        "data.light_model.epochs=1",
        "model.prior=none",
        "trainer.epochs=2",
        "trainer.steps_per_epoch=13",  # 10 + 3: a short call carries the rest of a block over
        f"paths.output_dir={tmp_path / 'outputs'}",
        *extra,
    ]


def test_training_on_the_streamed_file_matches_the_in_memory_run(files, tmp_path):
    from diffexp import names
    from diffexp.config import compose_checked
    from diffexp.training import records
    from diffexp.training.session import TrainingSession

    summaries, rows = {}, {}
    for streaming in ("true", "false"):
        cfg = compose_checked(_train_overrides(files, tmp_path, streaming))
        run_dir = tmp_path / f"run_{streaming}"
        session = TrainingSession(cfg, run_dir)
        assert (session.data.stream is not None) == (streaming == "true")
        session.run()
        summaries[streaming] = json.loads((run_dir / names.SUMMARY_FILE).read_text())
        rows[streaming] = records.read_metrics(run_dir)
        saved = EventTransform.load(run_dir / names.TRANSFORM_FILE)
        np.testing.assert_allclose(saved.charge_std, session.data.transform.charge_std)
    for key in ("n_train_events", "n_val_events", "epochs_completed", "stop_reason"):
        assert summaries["true"][key] == summaries["false"][key], key
    assert [r["step"] for r in rows["true"]] == [r["step"] for r in rows["false"]] == [13, 26]
    for row in rows["true"]:
        assert np.isfinite(row["train_loss"]) and np.isfinite(row["val_loss"])


def test_validation_and_normalisation_arrays_equal_the_in_memory_ones(files, tmp_path):
    from diffexp.config import compose_checked
    from diffexp.training.preparation import prepare_data

    streamed = prepare_data(compose_checked(_train_overrides(files, tmp_path, "true")))
    whole = prepare_data(compose_checked(_train_overrides(files, tmp_path, "false")))
    assert streamed.stream is not None and whole.stream is None
    n = len(streamed.val_x)  # what the validator scores: 2 x 32 x 20 = 1280 > 300, all of them
    assert n == whole.n_val == 300
    np.testing.assert_allclose(streamed.val_x, whole.val_x[:n], rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(streamed.val_c.shape, whole.val_c[:n].shape)
    assert streamed.train_x.shape == (0, whole.n_features)


def test_auto_streams_only_a_file_larger_than_its_share_of_memory(files):
    assert open_streamed_events(_cfg(files, "npy", streaming="auto")) is None
    tiny_share = _cfg(files, "npy", streaming="auto", streaming_memory_fraction=1e-9)
    assert open_streamed_events(tiny_share) is not None
    assert open_streamed_events(_cfg(files, "npy", streaming=False)) is None


def _one_line_error(cfg) -> str:
    with pytest.raises(DataError) as caught:
        open_streamed_events(cfg)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_a_compressed_npz_cannot_be_streamed_and_says_how_to_convert(events, tmp_path):
    path = tmp_path / "events.npz"
    np.savez_compressed(path, charges=events.charges, conditions=events.conditions)
    message = _one_line_error(load_data_conf("npz", path=str(path), streaming=True))
    assert str(path) in message and "python -m diffexp.data.npz_to_npy" in message
    large = load_data_conf("npz", path=str(path), streaming="auto", streaming_memory_fraction=1e-9)
    assert "data=npy" in _one_line_error(large)  # too large for memory: the same advice
    with zipfile.ZipFile(path) as archive:
        assert archive.getinfo("charges.npy").compress_type == zipfile.ZIP_DEFLATED
    unpack(path, tmp_path / "unpacked")  # the advised conversion, then streamed
    cfg = load_data_conf("npy", path=str(tmp_path / "unpacked"), streaming=True)
    streamed = open_streamed_events(cfg)
    np.testing.assert_array_equal(streamed.read_rows(0, N_EVENTS).charges, events.charges)


def test_a_bad_row_stops_with_the_file_and_the_rows(events, tmp_path):
    charges = events.charges.copy()
    charges[1500, 7] = np.nan
    folder = tmp_path / "bad"
    folder.mkdir()
    np.save(folder / "charges.npy", charges)
    np.save(folder / "conditions.npy", events.conditions)
    streamed = open_streamed_events(
        load_data_conf("npy", path=str(folder), streaming=True, chunk_events=CHUNK)
    )
    with pytest.raises(DataError, match="rows 1408-1535"):
        list(streamed.training_chunks())


def test_a_resumed_stream_continues_with_the_steps_after_the_checkpoint(files):
    from diffexp.training.streamed_batches import TrainingStream

    streamed = open_streamed_events(_cfg(files, "hdf5"))
    stream = TrainingStream(streamed, EventTransform.fit_chunks(streamed.training_chunks()), 3, 1)
    batches = stream.step_batches(32, 2, 10)  # 2 micro-batches of 16 a step
    steps = [batches.next_steps(n)[0] for n in (10, 3, 10, 10, 10, 10, 10, 10, 10, 10)]
    assert steps[1].shape == (3, 2, 16, 128)
    # a pass is 8 blocks of 10 steps (2700 // 320): step 83 is 3 steps into the second pass
    resumed = stream.step_batches(32, 2, 10, start_step=83).next_steps(10)[0]
    np.testing.assert_array_equal(resumed, steps[9])  # steps 83-92
    assert not np.array_equal(resumed, steps[8])
