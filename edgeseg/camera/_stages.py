"""The camera loop's middle threads: preprocessing (round-robin over the sources' raw channels, the
card's preprocessing at the inference size) and inference (batching the frames already waiting,
timing ``runner.infer``); a failure in either is handed to the main thread."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from edgeseg.camera._channel import Channel, Closed, Empty, get_any
from edgeseg.camera.capture import Frame, Grabber
from edgeseg.data.preprocess import preprocess


class StageWorkers:
    """Thread bodies of ``edgeseg.camera.pipeline.CameraLoop`` (they read its attributes: ``stats``,
    ``runner``, ``card``, ``infer_size``, ``batch``, ``live``, ``options``, ``_stop``, ``_errors``)."""

    stats: Any
    options: Any

    def _fail(self, e: BaseException) -> None:
        self._errors.append(e)
        self.stats.exit_reason = self.stats.exit_reason or "error"
        self._stop.set()

    def _preprocess_worker(self, raws: list[Channel], grabbers: list[Grabber], ready: Channel) -> None:
        turn = 0
        # one live source: preprocess every newest frame at once (ready keeps the freshest). Several:
        # wait for room, so stale frames are replaced in each source's own channel (fair, counted per source)
        wait = not self.live or len(raws) > 1
        try:
            while not self._stop.is_set():
                if any(
                    g.error is not None and raws[k].closed and not len(raws[k])
                    for k, g in enumerate(grabbers)
                ):
                    break  # a lost source ends the run once its captured frames are through
                if wait and not ready.wait_space(self._stop):
                    break
                try:
                    i, item = get_any(raws, turn, timeout=0.1)
                except Empty:
                    continue
                except Closed:
                    break
                turn = i + 1
                item.batch = preprocess(item.image, self.card, size=self.infer_size)
                if not ready.put(item, self._stop):
                    break
        except BaseException as e:  # noqa: BLE001 - handed to the main thread
            self._fail(e)
        finally:
            ready.close()

    def _infer_worker(self, ready: Channel, results: Channel) -> None:
        stats, runner, limit = self.stats, self.runner, self.options.max_frames
        try:
            while not self._stop.is_set():
                try:
                    items: list[Frame] = [ready.get(timeout=0.1)]
                except Empty:
                    continue
                except Closed:
                    break
                while len(items) < self.batch and (limit is None or stats.inferred + len(items) < limit):
                    try:  # batch what is already waiting; never wait for more
                        items.append(ready.get(timeout=0))
                    except (Empty, Closed):
                        break
                t = time.perf_counter()
                batch = items[0].batch if len(items) == 1 else np.concatenate([it.batch for it in items])
                logits = runner.infer(batch)
                ms = (time.perf_counter() - t) * 1000.0
                stats.infer_calls += 1
                for k, item in enumerate(items):
                    item.logits, item.infer_ms, item.batch = logits[k : k + 1], ms, None
                    stats.inferred += 1
                    stats.infer_ms.append(ms)
                    if stats.per_source:
                        stats.per_source[item.source].inferred += 1
                        stats.per_source[item.source].infer_ms.append(ms)
                    if not results.put(item, self._stop):
                        return
                if limit is not None and stats.inferred >= limit:
                    self._stream_end = "max frames"
                    break
        except BaseException as e:  # noqa: BLE001 - handed to the main thread
            self._fail(e)
        finally:
            results.close()
