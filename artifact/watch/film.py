"""Filming a scored game (`artifact.watch`): `render_video` writes an MP4 (H.264, imageio +
imageio-ffmpeg) or a GIF (Pillow) of the filmed game of each played policy, tiled left to right.

An RGB twin of each game's emulator (`envs.atari.make_rgb_vector_env`: the same settings and
seed, only the observation processing differs) is stepped with the actions the scored game took;
every step its raw reward (its sign against the scored env's clipped reward) and game end, and at
the end the score and length, are checked against the scored game (`VideoMismatchError` if they
ever differ). The emulator's full resolution (SCREEN_SHAPE), VIDEO_FPS frames per second (60 Hz /
frameskip 4: one frame per agent step), the condition and the score so far in a caption band
under each screen (`caption_height` pixels: never over the game's own score or logo), the last
screen held HOLD_FRAMES frames. A GIF is built in memory (about 34 KB a frame at full size);
`gif_every` keeps every K-th frame, `gif_scale` shrinks the screens. With `panel`, a panel under
the screens draws each policy's pi and V at the state each screen shows (`artifact.watch.panel`);
the screens and captions above it are the same frames as without it (tests/test_panel.py).
`film_frames` yields the frames, `render_video` writes them. The file is written through
`artifact.files.atomic_path`: an interrupted video leaves neither a torn file nor a temporary one.
"""
from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from artifact.files import atomic_path
from artifact.watch.panel import PanelEntry
from artifact.watch.playing import PROGRESS_EVERY_S, Played, fmt_score
from artifact.watch.policies import PROG
from envs.games import FRAMESKIP

SCREEN_HZ = 60                               # Atari frames per second
VIDEO_FPS = SCREEN_HZ // FRAMESKIP           # 15: one video frame per agent step, at game speed
HOLD_FRAMES = VIDEO_FPS                      # the final screen held 1 s (video frames)
SCREEN_SHAPE = (210, 160, 3)                 # the emulator's RGB screen, pixels


class VideoMismatchError(RuntimeError):
  """The RGB twin that films a game played differently from the scored game (a reward, a game
  end, the score or the length differed): the video would not show the scored game."""


class _Mp4Writer:
  """H.264 MP4 at VIDEO_FPS through imageio's ffmpeg plugin (imageio-ffmpeg's binary)."""

  def __init__(self, path: Path):
    import imageio.v2 as iio
    # the temporary name ends in .tmp: the container is named, not inferred
    self._w = iio.get_writer(str(path), format=".mp4", mode="I", fps=VIDEO_FPS, codec="libx264",
                             pixelformat="yuv420p", quality=8, macro_block_size=1,
                             output_params=["-f", "mp4"], ffmpeg_log_level="error")
    self.frames = 0

  def append(self, frame: np.ndarray):
    self._w.append_data(frame)
    self.frames += 1

  def close(self):
    self._w.close()


class _GifWriter:
  """A looping GIF (Pillow): every `every`-th frame kept, each shown for `every` / VIDEO_FPS s
  rounded to whole centiseconds (GIF's unit). Frames are kept in memory (palette images) until
  `close`. Pillow merges identical consecutive frames into one longer frame."""

  def __init__(self, path: Path, every: int):
    self.path, self.every = path, int(every)
    self.images = []
    self.seen = self.frames = 0

  def append(self, frame: np.ndarray):
    from PIL import Image
    if self.seen % self.every == 0:
      self.images.append(Image.fromarray(frame).convert("P", palette=Image.Palette.ADAPTIVE))
      self.frames += 1
    self.seen += 1

  def close(self):
    ms = 10 * round(100 * self.every / VIDEO_FPS)
    self.images[0].save(self.path, format="GIF", save_all=True, append_images=self.images[1:],
                        duration=ms, loop=0)


def caption_font():
  """The font of the captions: Pillow's built-in default (no font file needed)."""
  from PIL import ImageFont
  return ImageFont.load_default()


def caption_height(font) -> int:
  """Pixels of the caption band under each screen: the font's box height and a 2-pixel margin
  above and below, rounded up to even (H.264's 4:2:0 chroma wants even frame sizes)."""
  from PIL import Image, ImageDraw
  _, top, _, bottom = ImageDraw.Draw(Image.new("RGB", (1, 1))).textbbox((0, 0), "Ag_y|0", font=font)
  h = bottom - top + 4
  return h + h % 2


def _tile(screen: np.ndarray, label: str, score: float, end: str, scale: float, font) -> np.ndarray:
  """One policy's screen (scaled by `scale`) above a black caption band (`caption_height`)
  holding 'label  score  end' (`end`: "", "game over" or "capped"): the caption covers no part
  of the game's screen (its score, its logo); uint8 [H + caption, W, 3]."""
  from PIL import Image, ImageDraw
  img = Image.fromarray(screen)
  if scale != 1.0:
    img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))),
                     Image.Resampling.NEAREST)
  band = caption_height(font)
  out = Image.new("RGB", (img.width, img.height + band), (0, 0, 0))
  out.paste(img, (0, 0))
  draw = ImageDraw.Draw(out)
  text = f"{label}  {fmt_score(score)}" + (f"  {end}" if end else "")
  _, top, _, _ = draw.textbbox((0, 0), "Ag_y|0", font=font)   # one baseline for every text
  left, _, _, _ = draw.textbbox((0, 0), text, font=font)
  draw.text((2 - left, img.height + 2 - top), text, font=font, fill=(255, 255, 96))
  return np.asarray(out)


class _FilmedGame:
  """One filmed game: the RGB twin of its emulator (`envs.atari.make_rgb_vector_env`, its env
  seed, the protocol's cap) replaying the recorded actions, its screen, score so far and end."""

  def __init__(self, played: Played):
    from envs.atari import make_rgb_vector_env
    self.played, self.rec = played, played.recording
    self.steps = 0                             # agent steps replayed (the screen's state)
    self.twin = make_rgb_vector_env(played.protocol.game, 1,
                                    max_frames_per_game=played.protocol.max_frames)
    obs, _ = self.twin.reset(seed=np.array([self.rec.env_seed], np.int64))
    self.screen, self.score, self.end = np.array(obs[0, -1]), 0.0, ""

  def step(self, t: int):
    """Agent step t (from 0) of the recording, if the game lasted that long. Raises
    VideoMismatchError if the twin's reward or game end differs from the scored game's."""
    rec, label = self.rec, self.played.source.label
    if t >= len(rec.actions):
      return
    obs, reward, terminated, truncated, info = self.twin.step(np.array([rec.actions[t]], np.int64))
    r, end = float(reward[0]), bool(terminated[0] or truncated[0])
    self.score += r
    self.steps = t + 1
    if np.sign(r) != rec.rewards[t] or end != rec.ends[t]:
      raise VideoMismatchError(
          f"{label}, game seed {rec.env_seed}: at agent step {t + 1} the "
          f"filmed emulator got reward {r:g} (game end {end}), the scored one "
          f"{rec.rewards[t]:g} clipped (game end {rec.ends[t]})")
    if not end:
      self.screen = np.array(obs[0, -1])
      return
    if self.score != rec.score or t + 1 != rec.agent_steps:
      raise VideoMismatchError(
          f"{label}, game seed {rec.env_seed}: the filmed game ended "
          f"with score {self.score:g} after {t + 1} agent steps, the scored one with "
          f"{rec.score:g} after {rec.agent_steps}")
    # the observation is already the next game's first screen (SAME_STEP autoreset); the game's
    # last one is in info["final_obs"] (else the one before stays)
    final = np.asarray(info.get("final_obs", ()))
    if final.size == np.prod(SCREEN_SHAPE):
      self.screen = final.reshape(SCREEN_SHAPE).astype(np.uint8)
    self.end = "game over" if terminated[0] else "capped"

  def panel_entry(self, reading) -> PanelEntry:
    """The panel's row of this game at the screen shown (after `steps` agent steps): the pi and V
    (`reading`, `artifact.watch.panel.Reading`) of the logits and value the recording holds for
    the action taken from it, that action and the score so far; no pi once the game is over.
    Raises ValueError if the recording has no logits (played without `panel`)."""
    rec, t = self.rec, self.steps
    if len(rec.logits) != len(rec.actions):
      raise ValueError(f"{self.played.source.label}: the game was played without the panel's "
                       f"readout (play(..., panel=True))")
    if t >= len(rec.actions) or self.end:
      return PanelEntry(self.played.source.label, None, None, None, self.score, reading,
                        self.end or "game over")
    pi, value = reading.pi_and_value(rec.logits[t], rec.values[t])
    return PanelEntry(self.played.source.label, pi, float(value), rec.actions[t], self.score,
                      reading)

  def close(self):
    """Closes the twin emulator."""
    self.twin.close()


def film_frames(played: Sequence[Played], scale: float = 1.0, panel: bool = False,
                drawn: list | None = None, stream=None):
  """The video frames of the filmed game of each of `played`, tiled left to right, one at a time
  (uint8 [H, W, 3]): each filmed game replayed in an RGB twin of its emulator
  (`envs.atari.make_rgb_vector_env`, its env seed, the protocol's cap) with the recorded actions,
  one frame per agent step plus the first screen, the last one repeated HOLD_FRAMES times; a game
  that ended early holds its last screen (ale-py's `final_obs`). Each tile is the screen scaled by
  `scale` over its caption band (H = 210 * scale + `caption_height`, W = the tiles' widths).

  `panel` (the games played with `play(..., panel=True)`): under the tiles, the panel of every
  policy at the state each screen shows (`artifact.watch.panel.draw_panel`, as wide as the
  tiles; H grows by `panel_height`): the pi and V its action was sampled from, read by the run's
  algorithm (`panel.reading_of`), and its score so far; each frame's `PanelEntry` list (tile
  order) is appended to `drawn` (a list) when given: the probabilities drawn, frame by frame.
  Progress lines go to `stream` (default stderr). Raises VideoMismatchError if a twin's reward or
  game end ever differs from the scored game's, ValueError for `panel` on frames narrower than
  PANEL_MIN_WIDTH or a recording without readout."""
  from artifact.watch.panel import action_names, draw_panel, reading_of
  stream = sys.stderr if stream is None else stream
  font = caption_font()
  games: list[_FilmedGame] = []
  try:
    for p in played:
      games.append(_FilmedGame(p))
    steps = max(len(g.rec.actions) for g in games)
    names = action_names(played[0].protocol.game) if panel else ()
    readings = [reading_of(p.source.config) for p in played] if panel else []

    def frame():
      tiles = np.concatenate([_tile(g.screen, g.played.source.label, g.score, g.end, scale, font)
                              for g in games], axis=1)
      if not panel:
        return tiles
      entries = [g.panel_entry(r) for g, r in zip(games, readings)]
      if drawn is not None:
        drawn.append(entries)
      return np.concatenate([tiles, draw_panel(entries, names, tiles.shape[1])], axis=0)
    current = frame()
    yield current
    last_t = time.time()
    for t in range(steps):
      for g in games:
        g.step(t)
      current = frame()
      yield current
      if time.time() - last_t >= PROGRESS_EVERY_S:
        last_t = time.time()
        print(f"{PROG}: video: agent step {t + 1:,} of {steps:,}", file=stream, flush=True)
    for _ in range(HOLD_FRAMES):            # the last screen (and panel) held
      if drawn is not None and panel:
        drawn.append(drawn[-1])
      yield current
  finally:
    for g in games:
      g.close()


def render_video(path, played: Sequence[Played], gif_every: int = 1, gif_scale: float = 1.0,
                 stream=None, panel: bool = False, drawn: list | None = None) -> int:
  """Writes the video `path` (.mp4 or .gif, atomically) of the filmed game of each of `played`,
  tiled left to right: the frames of `film_frames` (with the panel under them if `panel`; `drawn`
  as there), at VIDEO_FPS. Returns the video frames written (a GIF keeps every `gif_every`-th, its
  screens scaled by `gif_scale`; Pillow may merge identical ones). Progress lines go to `stream`
  (default stderr). Raises VideoMismatchError if a twin's reward or game end ever differs from the
  scored game's (nothing is written)."""
  path = Path(path)
  gif = path.suffix.lower() == ".gif"
  frames = film_frames(played, gif_scale if gif else 1.0, panel, drawn, stream)
  try:
    first = next(frames)                   # the twins are started before the file is opened
    with atomic_path(path) as tmp:
      writer = _GifWriter(tmp, gif_every) if gif else _Mp4Writer(tmp)
      try:
        writer.append(first)
        for f in frames:
          writer.append(f)
      finally:
        writer.close()
  finally:
    frames.close()
  return writer.frames
