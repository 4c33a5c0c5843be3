"""Condition monitoring on public data: SKAB anomaly detection, CWRU bearing faults, C-MAPSS FD001 RUL.

Every figure is computed here from the files in the shared datasets folder with the library code in
``openiiot.analytics.condition``; nothing is copied from elsewhere except the published comparison figures,
which are labelled as such.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from scipy import signal

from openiiot.analytics.condition import anomaly, bearing, features, rul

TITLE = "Condition monitoring and predictive maintenance on public data"

Array = NDArray[np.float64]

# ----------------------------------------------------------------------------------------------------- SKAB

SKAB_TRAIN_ROWS = 400  # the benchmark's protocol: fit on the first 400 rows of each experiment
SKAB_GROUPS = ("valve1", "valve2", "other")
SKAB_SELECTION_GROUP = "valve1"  # window-PCA hyper-parameters are chosen on these files only
SKAB_GRID = {"window": (10, 15, 20, 30), "variance": (0.8, 0.85, 0.9, 0.95)}

# Published SKAB outlier-detection leaderboard (README of waico/SKAB), F1 / FAR / MAR.
SKAB_PUBLISHED = [
    ("Conv-AE (published best)", 0.78, 0.136, 0.280),
    ("Hotelling T² + Q (published)", 0.76, None, None),
]


@dataclass(frozen=True)
class Experiment:
    name: str  # e.g. valve1/3
    group: str
    x: Array  # rows x 8 sensors
    anomaly: NDArray[np.bool_]


@dataclass(frozen=True)
class Scores:
    f1: float
    far: float  # false-alarm rate FP / (FP + TN)
    mar: float  # missed-alarm rate FN / (FN + TP)


def load_skab(folder: Path) -> list[Experiment]:
    """The 34 labelled experiments (the anomaly-free file has no labels and is not part of the protocol)."""
    out = []
    for group in SKAB_GROUPS:
        files = sorted((folder / group).glob("*.csv"), key=lambda p: int(p.stem))
        for path in files:
            a = np.genfromtxt(path, delimiter=";", skip_header=1, usecols=range(1, 11))
            out.append(Experiment(f"{group}/{path.stem}", group, a[:, :8], a[:, 8] > 0.5))
    return out


def binary_scores(truth: NDArray[np.bool_], alarm: NDArray[np.bool_]) -> Scores:
    """F1, FAR and MAR over all samples, as the SKAB ``binary`` metric computes them."""
    tp = int(np.sum(truth & alarm))
    fp = int(np.sum(~truth & alarm))
    fn = int(np.sum(truth & ~alarm))
    tn = int(np.sum(~truth & ~alarm))
    return Scores(2 * tp / max(2 * tp + fp + fn, 1), fp / max(fp + tn, 1), fn / max(fn + tp, 1))


def _pooled(exps: list[Experiment], alarms: dict[str, NDArray[np.bool_]], group: str | None = None) -> Scores:
    sel = [e for e in exps if group is None or e.group == group]
    return binary_scores(
        np.concatenate([e.anomaly for e in sel]), np.concatenate([alarms[e.name] for e in sel])
    )


def _rolling_mean(s: Array, w: int) -> Array:
    c = np.concatenate([[0.0], np.cumsum(s)])
    i = np.arange(s.size)
    lo = np.maximum(0, i + 1 - w)
    return np.asarray((c[i + 1] - c[lo]) / (i + 1 - lo), dtype=np.float64)


def _alarms_t2q(e: Experiment, smooth: int) -> NDArray[np.bool_]:
    det = anomaly.PcaT2Q(variance=0.85, budget=0.01).fit(e.x[:SKAB_TRAIN_ROWS])
    s = det.score(e.x)
    if smooth <= 1:
        return s > det.threshold
    s = _rolling_mean(s, smooth)
    return s > 1.5 * float(np.quantile(s[:SKAB_TRAIN_ROWS], 0.99))


def _alarms_robust_z(e: Experiment) -> NDArray[np.bool_]:
    det = anomaly.RobustZ(budget=0.01).fit(e.x[:SKAB_TRAIN_ROWS])
    return det.score(e.x) > det.threshold


def _window_pca(e: Experiment, window: int, variance: float, causal: bool = False) -> NDArray[np.bool_]:
    det = anomaly.WindowPca(window=window, variance=variance, budget=0.01, safety=1.5)
    det.fit(e.x[:SKAB_TRAIN_ROWS])
    s = det.window_scores(e.x) if causal else det.score(e.x)
    return np.asarray(np.nan_to_num(s, nan=-np.inf) > det.threshold)


@dataclass(frozen=True)
class SkabResult:
    rows: list[tuple[str, Scores, Scores]]  # detector, all 34 files, files outside the selection group
    selected: tuple[int, float]
    grid: list[tuple[int, float, Scores, Scores]]  # window, variance, selection-group scores, all files
    files: int
    samples: int
    cv: list[tuple[str, tuple[int, float], Scores]]  # held-out group, parameters chosen without it, scores
    cv_pooled: Scores  # every file scored with parameters chosen without its own labels


def skab_results(folder: Path) -> SkabResult:
    exps = load_skab(folder)
    grid = []
    by_config: dict[tuple[int, float], dict[str, NDArray[np.bool_]]] = {}
    for window, variance in itertools.product(SKAB_GRID["window"], SKAB_GRID["variance"]):
        alarms = {e.name: _window_pca(e, window, variance) for e in exps}
        by_config[(window, variance)] = alarms
        grid.append((window, variance, _pooled(exps, alarms, SKAB_SELECTION_GROUP), _pooled(exps, alarms)))

    # Leave one group out: choose the parameters on the other two groups, score the held-out one.
    def group_f1(cfg: tuple[int, float], groups: list[str]) -> float:
        sel = [e for e in exps if e.group in groups]
        truth = np.concatenate([e.anomaly for e in sel])
        return binary_scores(truth, np.concatenate([by_config[cfg][e.name] for e in sel])).f1

    cv, cv_alarms = [], {}
    for held in SKAB_GROUPS:
        others = [g for g in SKAB_GROUPS if g != held]
        cfg = max(by_config, key=lambda c: group_f1(c, others))
        cv.append((held, cfg, _pooled(exps, by_config[cfg], held)))
        cv_alarms.update({e.name: by_config[cfg][e.name] for e in exps if e.group == held})
    cv_pooled = _pooled(exps, cv_alarms)
    best = max(grid, key=lambda g: g[2].f1)
    window, variance = best[0], best[1]

    def row(name: str, alarms: dict[str, NDArray[np.bool_]]) -> tuple[str, Scores, Scores]:
        rest = [e for e in exps if e.group != SKAB_SELECTION_GROUP]
        held = binary_scores(
            np.concatenate([e.anomaly for e in rest]), np.concatenate([alarms[e.name] for e in rest])
        )
        return name, _pooled(exps, alarms), held

    rows = [
        row(
            f"Window PCA ({window} s windows, {variance:.0%} variance), sample in any alarming window",
            {e.name: _window_pca(e, window, variance) for e in exps},
        ),
        row(
            "Window PCA, same, causal (alarm at the window's last sample)",
            {e.name: _window_pca(e, window, variance, causal=True) for e in exps},
        ),
        row("Hotelling T² + Q on PCA, per sample", {e.name: _alarms_t2q(e, 1) for e in exps}),
        row("Hotelling T² + Q, 30 s rolling mean of the score", {e.name: _alarms_t2q(e, 30) for e in exps}),
        row("Robust z (median/MAD), per sample", {e.name: _alarms_robust_z(e) for e in exps}),
    ]
    samples = sum(e.x.shape[0] for e in exps)
    return SkabResult(rows, (window, variance), grid, len(exps), samples, cv, cv_pooled)


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.1f} %"


def skab_section(folder: Path) -> str:
    head = "### SKAB (water-pump testbed): anomaly detection, benchmark protocol\n\n"
    if not (folder / "valve1").is_dir():
        return head + f"Skipped: the SKAB folder `{folder.name}/` is absent, so nothing was measured.\n"
    r = skab_results(folder)
    w, v = r.selected
    lines = [
        head,
        f"Protocol (as the SKAB benchmark's notebooks do): each of the {r.files} labelled experiments "
        f"({r.samples:,} samples at 1 s, 8 sensors) is scored on its own; every detector is fitted on the "
        f"first {SKAB_TRAIN_ROWS} rows of that experiment only, then every row of the experiment (training "
        "rows included) gets an alarm 0/1, compared with the `anomaly` label. F1, false-alarm rate "
        "FAR = FP/(FP+TN) and missed-alarm rate MAR = FN/(FN+TP) are pooled over all samples of all files.",
        "",
        "Detectors (`openiiot.analytics.condition.anomaly`): thresholds come only from the 400 "
        "training rows. The window PCA is a linear autoencoder of the standardised 8 sensors over short "
        "windows "
        "(`WindowPca`); its threshold is 3/2 x the 99 % quantile of the training windows' reconstruction "
        "error, the rule the SKAB reference notebooks use for their autoencoders. A sample is anomalous "
        "when any window containing it is (this looks up to window - 1 s ahead; the causal row raises the "
        "alarm at the end of the window instead). T² + Q uses the F and Jackson-Mudholkar limits at 99 %.",
        "",
        f"Hyper-parameters of the window PCA (window length and kept variance, grid "
        f"{list(SKAB_GRID['window'])} s x {list(SKAB_GRID['variance'])}) were chosen by the best F1 on the "
        f"16 `{SKAB_SELECTION_GROUP}` files only: {w} s and {v:.0%}. That uses those files' labels, which "
        "the benchmark protocol does not provide for; the column *held out* therefore repeats the scores on "
        "the "
        f"{r.files - 16} `valve2` and `other` files, whose labels played no part in any choice. No other "
        "setting was tuned on labels (T² + Q variance 85 %, 99 % limits and the 3/2 factor were fixed in "
        "advance).",
        "",
        "| detector | F1 | FAR | MAR | held out: F1 | FAR | MAR |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, s, h in r.rows:
        lines.append(
            f"| {name} | {s.f1:.3f} | {_pct(s.far)} | {_pct(s.mar)} "
            f"| {h.f1:.3f} | {_pct(h.far)} | {_pct(h.mar)} |"
        )
    for name, f1, far, mar in SKAB_PUBLISHED:
        lines.append(f"| {name} | {f1:.2f} | {_pct(far)} | {_pct(mar)} | | | |")
    best = r.rows[0][1]
    c = r.cv_pooled
    met = min(best.f1, c.f1) >= 0.80 and max(best.far, c.far) <= 0.15
    lines += [
        "",
        "**Cross-validated by group**, so that no file is scored with parameters chosen on its own labels: "
        "for each group (valve1, valve2, other) the window and variance are chosen on the other two groups "
        "and applied to it; pooled over all 34 files this gives "
        f"**F1 {c.f1:.3f}, FAR {_pct(c.far)}, MAR {_pct(c.mar)}** ("
        + "; ".join(f"{g}: {w} s / {v:.0%}, F1 {sc.f1:.3f}" for g, (w, v), sc in r.cv)
        + ").",
        "",
        f"Target F1 >= 0.80 with FAR <= 15 %: **{'met' if met else 'not met'}**"
        f" (selected on valve1: F1 {best.f1:.3f}, FAR {_pct(best.far)}; cross-validated: F1 {c.f1:.3f}, "
        f"FAR {_pct(c.far)}). On the 18 files outside valve1 alone, with the valve1 choice, F1 is "
        f"{r.rows[0][2].f1:.3f}: the `other` group (leaks, imbalance, cavitation) is the hardest.",
        "",
        "<details><summary>Window-PCA grid (selection on valve1; all files shown for transparency)</summary>",
        "",
        "| window s | variance | valve1 F1 | all F1 | all FAR | all MAR |",
        "|---|---|---|---|---|---|",
    ]
    for window, variance, sel, full in r.grid:
        lines.append(
            f"| {window} | {variance:.0%} | {sel.f1:.3f} | {full.f1:.3f} "
            f"| {_pct(full.far)} | {_pct(full.mar)} |"
        )
    lines += ["", "</details>"]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------------------- CWRU

CWRU_RPM = 1797.0
CWRU_FS = 12_000.0
CWRU_TRUTH = {"Normal": "normal", "IR": "inner race", "B": "ball", "OR@6": "outer race"}
FAMILY = {"BPFO": "outer race", "BPFI": "inner race", "BSF": "ball", "2xBSF": "ball"}


@dataclass(frozen=True)
class BearingVerdict:
    file: str
    truth: str
    named: str
    band_hz: tuple[float, float]
    band_sk: float  # spectral kurtosis of the chosen band's envelope (about 0 for Gaussian noise)
    kurtosis: float
    rms_g: float
    evidence: str  # the matched defect frequency: expected, found, harmonics, prominence
    matches: list[bearing.PeakMatch]

    @property
    def correct(self) -> bool:
        return self.truth == self.named


@dataclass(frozen=True)
class Diagnosis:
    named: str
    band_hz: tuple[float, float]
    band_sk: float
    matches: list[bearing.PeakMatch]


def _targets(f: bearing.DefectFrequencies) -> dict[str, float]:
    return {"BPFO": f.bpfo, "BPFI": f.bpfi, "BSF": f.bsf, "2xBSF": 2 * f.bsf}


def _name(matches: list[bearing.PeakMatch]) -> str:
    """The family detected with most harmonics and prominence (matches come sorted so), else normal."""
    detected = [m for m in matches if m.detected]
    return FAMILY[detected[0].name] if detected else "normal"


def _x(path: Path, channel: str = "DE") -> Array:
    x = np.load(path)[channel].ravel().astype(np.float64)
    if path.stem.split("_")[1] == "Normal":  # recorded at 48 kHz (see SOURCE.md): decimate to 12 kHz
        x = np.asarray(signal.decimate(x, 4), dtype=np.float64)
    return x


def diagnose_bearing(
    x: Array, fs: float, rpm: float, geometry: bearing.BearingGeometry, *, kurtogram_s: float | None = 2.0
) -> Diagnosis:
    """Name the fault from the squared-envelope spectrum: the defect family whose frequency and harmonics
    stand out most (``PeakMatch.detected``: at least 2 of 3 harmonics 3 x above the local floor, within
    1 %); no detected family means normal. The band is the kurtogram's best (levels <= 4) on the first
    ``kurtogram_s`` seconds (None: the whole record)."""
    f = bearing.defect_frequencies(geometry, rpm)
    head = x if kurtogram_s is None else x[: int(kurtogram_s * fs)]
    k = features.kurtogram(head, fs, max_level=4, min_bandwidth_hz=400)
    band = (k.center_hz - k.bandwidth_hz / 2, k.center_hz + k.bandwidth_hz / 2)
    fr, amp, band = features.envelope_spectrum(x, fs, band, max_freq=600)
    matches = bearing.match_defect_peaks(fr, amp, _targets(f), harmonics=3, tolerance=0.01)
    return Diagnosis(_name(matches), band, k.kurtosis, matches)


def diagnose_full_band(
    x: Array,
    fs: float,
    rpm: float,
    geometry: bearing.BearingGeometry,
    *,
    whiten: bool = True,
    squared: bool = True,
) -> Diagnosis:
    """The same rule on the envelope spectrum of the whole band, without a band choice: after cepstral
    pre-whitening (``whiten``; Smith and Randall's method 2) or of the raw signal (their method 1).
    ``squared=False`` takes the spectrum of the envelope instead of the squared envelope."""
    f = bearing.defect_frequencies(geometry, rpm)
    y = features.cepstral_prewhiten(x) if whiten else x
    fr, amp, band = features.envelope_spectrum(y, fs, (0.0, fs / 2), max_freq=600, squared=squared)
    matches = bearing.match_defect_peaks(fr, amp, _targets(f), harmonics=3, tolerance=0.01)
    return Diagnosis(_name(matches), band, math.nan, matches)


# The rule's three numbers varied around their values (3 x floor, 1 %, mean 3 x), to see how firm a name is.
RULE_GRID = {"threshold": (2.5, 3.0, 3.5), "tolerance": (0.005, 0.01, 0.02), "prominence": (2.5, 3.0, 3.5)}


def names_over_rule_grid(freqs: Array, amp: Array, f: bearing.DefectFrequencies) -> dict[str, int]:
    """How many settings of `RULE_GRID` name each fault (or normal) from one envelope spectrum."""
    out: dict[str, int] = {}
    for thr, tol, prom in itertools.product(*RULE_GRID.values()):
        ms = bearing.match_defect_peaks(freqs, amp, _targets(f), harmonics=3, tolerance=tol, threshold=thr)
        found = [m for m in ms if m.harmonics_found >= 2 and m.prominence >= prom]
        named = FAMILY[found[0].name] if found else "normal"
        out[named] = out.get(named, 0) + 1
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


@dataclass(frozen=True)
class MethodComparison:
    """One file diagnosed by each pre-processing, with the same rule."""

    file: str
    truth: str
    by_method: dict[str, Diagnosis]
    grid: dict[str, dict[str, int]]  # method -> names over RULE_GRID


COMPARED = {
    "kurtogram": "kurtogram band, DE (the method above)",
    "raw": "method 1: full band, raw, DE",
    "cpw": "method 2: CPW, full band, DE",
    "cpw_fe": "method 2: CPW, full band, FE",
    "cpw_env": "CPW, full band, envelope not squared, DE",
}


def compare_methods(path: Path) -> MethodComparison:
    """Every pre-processing of `COMPARED` on one record, uniformly (literature defaults, nothing per file)."""
    g = bearing.BEARINGS["6205"]
    f = bearing.defect_frequencies(g, CWRU_RPM)
    x = _x(path)
    d = diagnose_bearing(x, CWRU_FS, CWRU_RPM, g)
    by = {
        "kurtogram": d,
        "raw": diagnose_full_band(x, CWRU_FS, CWRU_RPM, g, whiten=False),
        "cpw": diagnose_full_band(x, CWRU_FS, CWRU_RPM, g),
        "cpw_fe": diagnose_full_band(_x(path, "FE"), CWRU_FS, CWRU_RPM, g),
        "cpw_env": diagnose_full_band(x, CWRU_FS, CWRU_RPM, g, squared=False),
    }
    fk, ak, _ = features.envelope_spectrum(x, CWRU_FS, d.band_hz, max_freq=600)
    fc, ac, _ = features.envelope_spectrum(
        features.cepstral_prewhiten(x), CWRU_FS, (0.0, CWRU_FS / 2), max_freq=600
    )
    grid = {"kurtogram": names_over_rule_grid(fk, ak, f), "cpw": names_over_rule_grid(fc, ac, f)}
    return MethodComparison(path.stem, CWRU_TRUTH[path.stem.split("_")[1]], by, grid)


def _cell(d: Diagnosis, truth: str) -> str:
    """The name and the family that carries it (for normal: the strongest family, which fell short)."""
    m = next((m for m in d.matches if FAMILY[m.name] == d.named), d.matches[0])
    text = f"{d.named} ({m.name} {m.harmonics_found}/3, {m.prominence:.1f})"
    return text if d.named == truth else f"**{text}**"


def cwru_results(folder: Path, *, kurtogram_s: float | None = 2.0) -> list[BearingVerdict]:
    geometry = bearing.BEARINGS["6205"]
    out = []
    for path in sorted(folder.glob("1797_*.npz")):
        x = _x(path)
        d = diagnose_bearing(x, CWRU_FS, CWRU_RPM, geometry, kurtogram_s=kurtogram_s)
        tf = features.time_features(x)
        shown = next((m for m in d.matches if FAMILY[m.name] == d.named), d.matches[0])
        evidence = (
            f"{shown.name} expected {shown.expected_hz:.1f} Hz, found {shown.found_hz:.1f} Hz, "
            f"{shown.harmonics_found}/3 harmonics, prominence {shown.prominence:.1f}"
        )
        kind = path.stem.split("_")[1]
        out.append(
            BearingVerdict(
                path.stem,
                CWRU_TRUTH[kind],
                d.named,
                d.band_hz,
                d.band_sk,
                tf.kurtosis,
                tf.rms,
                evidence,
                d.matches,
            )
        )
    return out


@dataclass(frozen=True)
class BallEvidence:
    """The lines of each defect family in the diagnosis band of a record."""

    file: str
    band_hz: tuple[float, float]
    band_sk: float
    bpfo: list[bearing.Line]  # harmonics 1..3
    bsf2: list[bearing.Line]  # 2xBSF, harmonics 1..3
    cage: list[bearing.SidebandTriplet]  # 2xBSF and 2xBSF ± FTF, harmonics 1..2
    ftf: bearing.Line  # the cage line itself


def ball_evidence(path: Path) -> BallEvidence:
    """BPFO and 2xBSF lines with their harmonics, and the FTF sidebands of 2xBSF, in the diagnosis band: a
    ball defect should show 2xBSF with FTF sidebands (Randall & Antoni 2011)."""
    x = _x(path)
    f = bearing.defect_frequencies(bearing.BEARINGS["6205"], CWRU_RPM)
    d = diagnose_bearing(x, CWRU_FS, CWRU_RPM, bearing.BEARINGS["6205"])
    fr, amp, _ = features.envelope_spectrum(x, CWRU_FS, d.band_hz, max_freq=600)

    def lines(f0: float) -> list[bearing.Line]:
        out = [bearing.line_at(fr, amp, k * f0, tolerance=0.01) for k in (1, 2, 3)]
        return [line for line in out if line is not None]

    cage = bearing.sideband_lines(fr, amp, 2 * f.bsf, f.ftf, harmonics=2, tolerance=0.01)
    ftf = bearing.line_at(fr, amp, f.ftf, tolerance=0.01)
    assert ftf is not None
    return BallEvidence(path.stem, d.band_hz, d.band_sk, lines(f.bpfo), lines(2 * f.bsf), cage, ftf)


def band_votes(path: Path) -> dict[str, int]:
    """The diagnosis repeated in every band of the kurtogram tree it chooses from (levels <= 4, >= 400 Hz):
    how many bands name each fault (or normal). A real race fault names itself in nearly every band."""
    x = _x(path)
    f = bearing.defect_frequencies(bearing.BEARINGS["6205"], CWRU_RPM)
    votes: dict[str, int] = {}
    for _, lo, hi in features.kurtogram_bands(CWRU_FS, max_level=4, min_bandwidth_hz=400):
        fr, amp, _ = features.envelope_spectrum(x, CWRU_FS, (max(lo, 1.0), hi), max_freq=600)
        named = _name(bearing.match_defect_peaks(fr, amp, _targets(f), harmonics=3, tolerance=0.01))
        votes[named] = votes.get(named, 0) + 1
    return dict(sorted(votes.items(), key=lambda kv: -kv[1]))


def _snrs(lines: list[bearing.Line]) -> str:
    return " / ".join(f"{line.snr:.1f}" for line in lines)


def _line(line: bearing.Line) -> str:
    return f"{line.amplitude:.1e} at {line.found_hz:.1f} Hz ({line.snr:.1f})"


def _ball_rows(evidence: list[BallEvidence]) -> list[str]:
    rows = [
        "| file | band Hz (SK) | BPFO: line g² (x floor); harmonics 1/2/3 x floor "
        "| 2xBSF: line g² (x floor); harmonics 1/2/3 x floor "
        "| 2xBSF - FTF / 2xBSF / 2xBSF + FTF, x floor: 1st; 2nd harmonic | FTF line x floor |",
        "|---|---|---|---|---|---|",
    ]
    for e in evidence:
        side = "; ".join(f"{t.lower.snr:.1f} / {t.carrier.snr:.1f} / {t.upper.snr:.1f}" for t in e.cage)
        rows.append(
            f"| {e.file} | {e.band_hz[0]:.0f}-{e.band_hz[1]:.0f} ({e.band_sk:.2f}) "
            f"| {_line(e.bpfo[0])}; {_snrs(e.bpfo)} | {_line(e.bsf2[0])}; {_snrs(e.bsf2)} "
            f"| {side} | {e.ftf.snr:.1f} |"
        )
    return rows


def _votes(v: dict[str, int]) -> str:
    return ", ".join(f"{n} {name}" for name, n in v.items())


def _b7_paragraph(
    verdicts: dict[str, BearingVerdict], e: BallEvidence, votes: dict[str, dict[str, int]]
) -> str:
    b7, normal = verdicts["1797_B_7_DE12"], verdicts.get("1797_Normal")
    others = [v.band_sk for v in verdicts.values() if v.truth != "normal" and v.file != b7.file]
    m = {m.name: m for m in b7.matches}
    f = bearing.defect_frequencies(bearing.BEARINGS["6205"], CWRU_RPM)
    first = e.cage[0]
    return (
        f"The 7 mil ball record (CWRU no. 118) shows no ball signature. Its diagnosis band has spectral "
        f"kurtosis {b7.band_sk:.2f}"
        + (f" (healthy record {normal.band_sk:.2f}" if normal else " (")
        + (f"; every other fault record {min(others):.2f} or more)" if others else ")")
        + f", i.e. hardly any impulses; 2xBSF has {m['2xBSF'].harmonics_found} of 3 harmonics 3 x over the "
        f"floor (mean {m['2xBSF'].prominence:.1f} x) and its first FTF sidebands stand at "
        f"{first.lower.snr:.1f} and {first.upper.snr:.1f} x; BPFO has {m['BPFO'].harmonics_found} of 3 "
        f"(mean {m['BPFO'].prominence:.1f} x). Over the {sum(votes[b7.file].values())} candidate bands "
        f"the verdicts scatter ({_votes(votes[b7.file])})"
        + (f" much as they do on the healthy record ({_votes(votes['1797_Normal'])})" if normal else "")
        + ". The second-harmonic sidebands are no evidence on this bearing at this speed: 2·2xBSF - FTF "
        f"({4 * f.bsf - f.ftf:.1f} Hz) lies within 1 % of 9 x shaft speed ({9 * f.shaft_hz:.1f} Hz) and "
        f"2·2xBSF + FTF ({4 * f.bsf + f.ftf:.1f} Hz) of 2·BPFI - shaft speed "
        f"({2 * f.bpfi - f.shaft_hz:.1f} Hz). The rule names what the spectrum shows, an outer-race line, "
        "and the file counts as misnamed; no rule tuned to this file was adopted. This agrees with Smith "
        "and Randall's CWRU benchmark (MSSP 64-65, 2015), which lists the drive-end 7 mil ball records at "
        "0 and 1 hp (nos. 118 and 119) among the records no method of theirs could diagnose (their "
        "Table 6), and finds the ball faults the hardest case, only the 21 and 28 mil ones being "
        "diagnosable by plain envelope analysis (as transcribed in a third party's notes on the paper; "
        "not yet checked against the paper itself)."
    )


def cwru_section(folder: Path) -> str:
    head = "### CWRU bearings (0 hp, 1797 rpm): fault type from the envelope spectrum\n\n"
    if not folder.is_dir() or not any(folder.glob("1797_*.npz")):
        return head + f"Skipped: the CWRU folder `{folder.name}/` is absent, so nothing was measured.\n"
    verdicts = cwru_results(folder)
    f = bearing.defect_frequencies(bearing.BEARINGS["6205"], CWRU_RPM)
    lines = [
        head,
        "Drive-end accelerometer, SKF 6205 geometry (9 balls, d = 7.938 mm, D = 39.04 mm) at 1797 rpm: "
        f"BPFO {f.bpfo:.1f} Hz, BPFI {f.bpfi:.1f} Hz, BSF {f.bsf:.1f} Hz (2xBSF {2 * f.bsf:.1f} Hz), "
        f"FTF {f.ftf:.2f} Hz. Per file: kurtogram band (first 2 s, levels <= 4, bands >= 400 Hz), "
        "squared-envelope spectrum of the whole record, "
        "then each defect frequency and its first 3 harmonics are compared with the local spectral median "
        "(`bearing.match_defect_peaks`, tolerance 1 %). The named fault is the family that is detected "
        "with most harmonics and prominence; none detected means normal. No threshold was set per file; "
        "the normal record (48 kHz) is decimated to 12 kHz first. *SK* is the spectral kurtosis of "
        "the band's envelope: about 0 for Gaussian noise, higher the more impulsive the band.",
        "",
        "| file | truth | named | band Hz | SK | RMS g | kurtosis | matched defect frequency | correct |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for v in verdicts:
        lines.append(
            f"| {v.file} | {v.truth} | {v.named} | {v.band_hz[0]:.0f}-{v.band_hz[1]:.0f} | {v.band_sk:.2f} "
            f"| {v.rms_g:.3f} | {v.kurtosis:.1f} | {v.evidence} | {'yes' if v.correct else '**no**'} |"
        )
    right = sum(v.correct for v in verdicts)
    lines += ["", f"Correct: **{right} of {len(verdicts)}** files ({right / len(verdicts):.0%})."]
    wrong = [v for v in verdicts if not v.correct]
    if wrong:
        lines.append("Misnamed: " + "; ".join(f"{v.file} ({v.truth}) named {v.named}" for v in wrong) + ".")

    paths = sorted(folder.glob("1797_*.npz"))
    votes = {p.stem: band_votes(p) for p in paths}
    whole = {v.file: v for v in cwru_results(folder, kurtogram_s=None)}
    bands = sum(next(iter(votes.values())).values())
    firm = [v.file for v in verdicts if votes[v.file].get(v.named, 0) >= 0.9 * bands]
    loose = [v for v in verdicts if v.file not in firm]
    lines += [
        "",
        f"**How firm each name is.** The same rule in each of the {bands} bands of the kurtogram tree, "
        "and with the kurtogram taken over the whole record instead of the first 2 s:",
        "",
        "| file | truth | names over the candidate bands | whole-record kurtogram: band Hz, SK, named |",
        "|---|---|---|---|",
    ]
    for v in verdicts:
        w = whole[v.file]
        lines.append(
            f"| {v.file} | {v.truth} | {_votes(votes[v.file])} "
            f"| {w.band_hz[0]:.0f}-{w.band_hz[1]:.0f}, {w.band_sk:.2f}, {w.named}"
            f"{'' if w.correct else ' (**no**)'} |"
        )
    lines += [
        "",
        f"Named the same in at least 90 % of the bands: {', '.join(firm) or 'none'}. "
        + (
            "The others' names depend on the band ("
            + "; ".join(f"{v.file} {v.named} in {votes[v.file].get(v.named, 0)}" for v in loose)
            + "): where the band carries no impulses, lines 3 x over the local floor on 2 of 3 harmonics "
            "turn up by chance or from other machine lines, so a verdict from a band with SK well under 1 "
            "is weak either way, a *normal* included."
            if loose
            else ""
        ),
    ]
    comparisons = [compare_methods(p) for p in paths]
    lines += _comparison_rows(comparisons)
    lines += [
        "",
        "**The ball-fault records, line by line.** A rolling-element defect strikes both races once per "
        "spin of the ball, so it shows at 2xBSF and its harmonics, amplitude-modulated at the cage "
        "frequency FTF as the ball carries the defect in and out of the load zone (sidebands at 2xBSF ± "
        "FTF); it is the weakest of the three signatures (Randall & Antoni 2011). Squared-envelope line "
        "amplitudes in g² and their ratio to the local floor (`bearing.line_at`, `bearing.sideband_lines`), "
        "in the diagnosis band:",
        "",
    ]
    evidence = [ball_evidence(p) for p in paths if p.stem.split("_")[1] == "B"]
    lines += _ball_rows(evidence)
    by_file = {v.file: v for v in verdicts}
    b7 = next((e for e in evidence if e.file == "1797_B_7_DE12"), None)
    if b7 is not None and not by_file[b7.file].correct:
        lines += ["", _b7_paragraph(by_file, b7, votes)]
        b7c = next((c for c in comparisons if c.file == b7.file), None)
        if b7c is not None:
            lines += ["", _b7_cpw_paragraph(b7c)]
    return "\n".join(lines) + "\n"


def _comparison_rows(comparisons: list[MethodComparison]) -> list[str]:
    n_grid = math.prod(len(v) for v in RULE_GRID.values())
    rows = [
        "",
        "**Other published pre-processing, the same rule.** Smith and Randall's CWRU benchmark (MSSP 64-65, "
        "2015) ran three methods on every record: (1) the squared-envelope spectrum of the full band of the "
        "raw signal; (2) the same after cepstral pre-whitening (CPW: every real-cepstrum coefficient but the "
        "zero-quefrency one set to zero, i.e. a flat amplitude spectrum with the signal's own phase, "
        "`features.cepstral_prewhiten`), which takes away the weight of strong lines and resonances and "
        "needs no band choice; (3) a band chosen by spectral kurtosis after discrete/random separation (the "
        "method above, without the separation). Each column applies one pre-processing unchanged to every "
        "file, with the rule above and literature defaults; nothing was chosen on these files. CPW is also "
        "run on the fan-end accelerometer (FE) and with the plain envelope. Cells: the name, then the defect "
        "family carrying it (for *normal*, the strongest family, which fell short), harmonics 3 x over the "
        "floor and mean prominence; wrong names in bold. The last column varies the rule itself over "
        f"{n_grid} settings (line {'/'.join(f'{t:g}' for t in RULE_GRID['threshold'])} x floor, tolerance "
        f"{'/'.join(f'{t:.1%}' for t in RULE_GRID['tolerance'])}, mean prominence "
        f"{'/'.join(f'{t:g}' for t in RULE_GRID['prominence'])} x) and counts the settings that name the "
        "truth.",
        "",
        "| file | truth | " + " | ".join(COMPARED.values()) + f" | settings of {n_grid} naming the truth: "
        "kurtogram band / CPW |",
        "|---|---|" + "---|" * len(COMPARED) + "---|",
    ]
    for c in comparisons:
        cells = " | ".join(_cell(c.by_method[k], c.truth) for k in COMPARED)
        grid = f"{c.grid['kurtogram'].get(c.truth, 0)} / {c.grid['cpw'].get(c.truth, 0)}"
        rows.append(f"| {c.file} | {c.truth} | {cells} | {grid} |")
    right = " | ".join(
        f"{sum(c.by_method[k].named == c.truth for c in comparisons)} of {len(comparisons)}" for k in COMPARED
    )
    wrong_family = " | ".join(
        str(sum(c.by_method[k].named not in (c.truth, "normal") for c in comparisons)) for k in COMPARED
    )
    rows += [
        f"| **right** | | {right} | |",
        f"| named a wrong fault | | {wrong_family} | |",
    ]
    cpw = [c for c in comparisons if c.by_method["cpw"].named != c.truth]
    cpw_wrong = [c for c in cpw if c.by_method["cpw"].named != "normal"]
    both = [c for c in comparisons if c.by_method["cpw"].named == c.truth == c.by_method["kurtogram"].named]
    firm = {k: sum(c.grid[k].get(c.truth, 0) for c in both) for k in ("kurtogram", "cpw")}
    n_firm = n_grid * len(both)
    rows += [
        "",
        f"CPW names {len(comparisons) - len(cpw)} of {len(comparisons)} files right and "
        f"{len(cpw_wrong) or 'none'} a wrong fault; it needs no band, and on the {len(both)} files both "
        f"methods name right its names hold over {firm['cpw']} of {n_firm} rule settings against "
        f"{firm['kurtogram']} for the kurtogram band. "
        + (
            "But it does not name every file either ("
            + "; ".join(
                f"{c.file}, a {c.truth} fault, is named {c.by_method['cpw'].named} where the kurtogram band "
                f"names it {c.by_method['kurtogram'].named}"
                for c in cpw
            )
            + "). "
            if cpw
            else ""
        )
        + f"Only these {len(comparisons)} CWRU records are in the shared datasets (one per condition and "
        "defect size at 0 hp; `SOURCE.md` lists what was not copied), so there is no held-out record to "
        "validate a change of method on, and the kurtogram table above stays the evaluation's result. "
        "For a maintenance engineer CPW is a second opinion (condition-monitoring section 4.3): where the "
        "two disagree, the name is not firm.",
    ]
    return rows


def _b7_cpw_paragraph(c: MethodComparison) -> str:
    cpw = {m.name: m for m in c.by_method["cpw"].matches}
    raw = {m.name: m for m in c.by_method["raw"].matches}
    others = [o for o in COMPARED if o != "kurtogram"]
    names = "; ".join(f"{COMPARED[k]}: {c.by_method[k].named}" for k in others)
    return (
        "**Cepstral pre-whitening on record 118.** "
        f"Whitened, the full-band squared-envelope spectrum keeps BPFO at {cpw['BPFO'].harmonics_found} of 3 "
        f"harmonics (mean {cpw['BPFO'].prominence:.1f} x; raw full band {raw['BPFO'].harmonics_found} of 3, "
        f"{raw['BPFO'].prominence:.1f} x), 2xBSF at {cpw['2xBSF'].harmonics_found} of 3 "
        f"({cpw['2xBSF'].prominence:.1f} x), BSF at {cpw['BSF'].harmonics_found} of 3 "
        f"({cpw['BSF'].prominence:.1f} x) and BPFI at {cpw['BPFI'].harmonics_found} of 3 "
        f"({cpw['BPFI'].prominence:.1f} x): no family is detected, so CPW names the record "
        f"*{c.by_method['cpw'].named}*; the {sum(c.grid['cpw'].values())} rule settings "
        f"name it {_votes(c.grid['cpw'])}. The outer-race line of the kurtogram band does not survive "
        "whitening, but no ball line appears either: at the rule's own settings no pre-processing tried "
        f"here names this record a ball fault ({names})."
    )


# ------------------------------------------------------------------------------------------------- C-MAPSS

CMAPSS_SENSORS = (2, 3, 4, 7, 8, 9, 11, 12, 13, 14, 15, 17, 20, 21)  # the 14 that vary in FD001
RUL_CAP = 125.0  # the usual piecewise-linear cap on estimates (Heimes 2008 and most later papers)
SIM_GRID = {"window": (30, 50, 1000), "k": (5, 10, 20)}
SMOOTH = 10

# Published FD001 figures (RMSE / PHM08 score) for comparison.
CMAPSS_PUBLISHED = [
    ("CNN, Babu et al. 2016", 18.45, 1287.0),
    ("LSTM, Zheng et al. 2017", 16.14, 338.0),
    ("DCNN, Li et al. 2018", 12.61, 273.7),
]


def _units(a: Array) -> list[Array]:
    cols = [4 + s for s in CMAPSS_SENSORS]
    return [a[a[:, 0] == u][:, cols] for u in np.unique(a[:, 0])]


@dataclass
class HealthModel:
    """Linear health index: least squares from standardised sensors to 1 - cycle/life on training runs."""

    mean: Array
    std: Array
    coef: Array

    @classmethod
    def fit(cls, runs: list[Array]) -> HealthModel:
        allx = np.vstack(runs)
        mean, std = allx.mean(axis=0), allx.std(axis=0)
        std = np.where(std > 0, std, 1.0)
        x = np.vstack([(r - mean) / std for r in runs])
        y = np.concatenate([1 - np.arange(len(r)) / (len(r) - 1) for r in runs])
        a = np.column_stack([np.ones(len(x)), x])
        coef, *_ = np.linalg.lstsq(a, y, rcond=None)
        return cls(mean, std, coef)

    def hi(self, run: Array) -> Array:
        z = (run - self.mean) / self.std
        return _rolling_mean(np.column_stack([np.ones(len(z)), z]) @ self.coef, SMOOTH)


@dataclass(frozen=True)
class RulResult:
    method: str
    rmse: float
    score: float
    estimates: Array


def _cv_similarity(lib: list[Array], window: int, k: int, seed: int = 0) -> float:
    """RMSE of leave-one-out similarity RUL on training engines truncated at a random cycle."""
    rng = np.random.default_rng(seed)
    err = []
    for i, curve in enumerate(lib):
        cut = int(rng.integers(31, curve.size - 5))
        model = rul.SimilarityRul(window=window, k=k, max_rul=RUL_CAP).fit(lib[:i] + lib[i + 1 :])
        err.append(model.predict(curve[:cut]).median - (curve.size - cut))
    return float(np.sqrt(np.mean(np.square(err))))


ONSET_GRID = {"sigmas": (1.0, 2.0, 3.0), "offset": (0.05, 0.1, 0.2, 0.5)}


@dataclass
class OnsetExponential:
    """Exponential degradation started at the degradation onset (HI below the healthy mean - n sigma).

    The healthy HI statistics come from cycles 10-40 of the training engines. From the onset on, the
    degradation signal D = (onset limit + offset) - HI starts near ``offset`` and rises; the prior of
    ``rul.ExponentialDegradation`` is learned from the training runs' post-onset parts and updated with the
    engine's own post-onset history. No onset yet: RUL = the cap.
    """

    sigmas: float
    offset: float
    limit: float = 0.0
    model: rul.ExponentialDegradation | None = None

    def fit(self, lib: list[Array], healthy_mean: float, healthy_sd: float) -> OnsetExponential:
        self.limit = healthy_mean - self.sigmas * healthy_sd
        runs = []
        for c in lib:
            d = self._signal(c)
            if d is not None and d.size >= 5:
                runs.append((np.arange(d.size, dtype=np.float64), d))
        thr = float(np.mean([d[-1] for _, d in runs]))
        self.model = rul.ExponentialDegradation(threshold=thr, phi=0.0, max_rul=RUL_CAP).fit_prior(runs)
        return self

    def _signal(self, hi: Array) -> Array | None:
        idx = np.flatnonzero(hi < self.limit)
        if idx.size == 0:
            return None
        return np.clip(self.limit + self.offset - hi[int(idx[0]) :], 1e-3, None)

    def predict(self, hi: Array) -> float:
        assert self.model is not None
        d = self._signal(hi)
        if d is None:
            return RUL_CAP
        return self.model.predict(np.arange(d.size, dtype=np.float64), d, samples=300).median


def _cv_onset(lib: list[Array], sigmas: float, offset: float, mean: float, sd: float) -> float:
    """5-fold RMSE on training engines truncated at a random cycle."""
    rng = np.random.default_rng(0)
    cuts = [int(rng.integers(31, c.size - 5)) for c in lib]
    err = []
    for fold in range(5):
        m = OnsetExponential(sigmas, offset).fit([c for i, c in enumerate(lib) if i % 5 != fold], mean, sd)
        err += [m.predict(c[: cuts[i]]) - (c.size - cuts[i]) for i, c in enumerate(lib) if i % 5 == fold]
    return float(np.sqrt(np.mean(np.square(err))))


@dataclass(frozen=True)
class CmapssResult:
    results: list[RulResult]
    selected: tuple[int, int]  # similarity window, k
    cv: list[tuple[int, int, float]]
    truth: Array
    prior_life: float  # failure cycle implied by the exponential model's prior mean
    train_lives: list[int]
    onset: tuple[float, float]  # sigmas, offset chosen by cross-validation on the training engines
    onset_cv: list[tuple[float, float, float]]


def cmapss_results(folder: Path) -> CmapssResult:
    train = _units(np.loadtxt(folder / "train_FD001.txt"))
    test = _units(np.loadtxt(folder / "test_FD001.txt"))
    truth = np.loadtxt(folder / "RUL_FD001.txt")
    hm = HealthModel.fit(train)
    lib = [hm.hi(r) for r in train]
    cv = [(w, k, _cv_similarity(lib, w, k)) for w, k in itertools.product(SIM_GRID["window"], SIM_GRID["k"])]
    w, k, _ = min(cv, key=lambda c: c[2])
    sim = rul.SimilarityRul(window=w, k=k, max_rul=RUL_CAP).fit(lib)
    est_sim = np.array([sim.predict(hm.hi(r)).median for r in test])

    # Exponential degradation on D = 2 - HI (> 0, rising): prior from the training runs, Bayesian update
    # with each test engine's own history, failure when D reaches its mean value at failure in training.
    deg = [2.0 - c for c in lib]
    thr = float(np.mean([d[-1] for d in deg]))
    exp_model = rul.ExponentialDegradation(threshold=thr, phi=0.0, max_rul=RUL_CAP)
    exp_model.fit_prior([(np.arange(d.size, dtype=np.float64), d) for d in deg])
    est_exp = np.array(
        [
            exp_model.predict(np.arange(len(r), dtype=np.float64), 2.0 - hm.hi(r), samples=500).median
            for r in test
        ]
    )
    healthy = np.concatenate([c[10:40] for c in lib])
    mean, sd = float(healthy.mean()), float(healthy.std())
    onset_cv = [
        (n, off, _cv_onset(lib, n, off, mean, sd))
        for n, off in itertools.product(ONSET_GRID["sigmas"], ONSET_GRID["offset"])
    ]
    n_sel, off_sel, _ = min(onset_cv, key=lambda c: c[2])
    onset_model = OnsetExponential(n_sel, off_sel).fit(lib, mean, sd)
    est_onset = np.array([onset_model.predict(hm.hi(r)) for r in test])
    results = [
        RulResult(
            f"Similarity to the 100 run-to-failure HI curves (window {w}, k {k})",
            rul.rmse(est_sim, truth),
            rul.phm08_score(est_sim, truth),
            est_sim,
        ),
        RulResult(
            f"Exponential degradation (Gebraeel 2006) from the onset (HI < healthy mean - {n_sel:g} sigma, "
            f"offset {off_sel:g})",
            rul.rmse(est_onset, truth),
            rul.phm08_score(est_onset, truth),
            est_onset,
        ),
        RulResult(
            "Exponential degradation over the whole history (D = 2 - HI)",
            rul.rmse(est_exp, truth),
            rul.phm08_score(est_exp, truth),
            est_exp,
        ),
    ]
    prior_life = (math.log(thr) - float(exp_model.prior_mean[0])) / float(exp_model.prior_mean[1])
    return CmapssResult(
        results, (w, k), cv, truth, prior_life, [len(r) for r in train], (n_sel, off_sel), onset_cv
    )


def cmapss_section(folder: Path) -> str:
    head = "### NASA C-MAPSS FD001: remaining useful life of the 100 test engines\n\n"
    if not (folder / "test_FD001.txt").is_file():
        return head + f"Skipped: the C-MAPSS folder `{folder.name}/` is absent, so nothing was measured.\n"
    res = cmapss_results(folder)
    results, (w, k), cv, truth, prior_life = res.results, res.selected, res.cv, res.truth, res.prior_life
    lines = [
        head,
        f"Health index (HI): least squares from the {len(CMAPSS_SENSORS)} informative sensors "
        f"(s{', s'.join(map(str, CMAPSS_SENSORS))}; standardised on the training set) to 1 - cycle/life on "
        f"the 100 training engines, then a {SMOOTH}-cycle trailing mean. `rul.SimilarityRul` slides the "
        "last `window` HI points of a test engine along each training curve and takes the weighted median "
        "RUL of the `k` best matches; window and k were chosen by leave-one-out on the *training* engines "
        f"(each truncated at a random cycle), grid {list(SIM_GRID['window'])} x {list(SIM_GRID['k'])}: "
        f"window {w}, k {k}. Estimates are capped at {RUL_CAP:.0f} cycles (the usual piecewise-linear "
        "convention). `rul.ExponentialDegradation` (prior learned from the training runs, Bayesian update "
        "with the engine's own history) is run twice: from the degradation onset, when the HI first falls "
        "n sigma below its healthy mean (cycles 10-40 of the training engines), on D = limit + offset - HI, "
        f"with n and the offset chosen by 5-fold cross-validation on the training engines (grid "
        f"{list(ONSET_GRID['sigmas'])} x {list(ONSET_GRID['offset'])}); and naively over the whole history "
        "on D = 2 - HI. Scored on the last cycle of each test engine against `RUL_FD001.txt`; the test "
        "labels played no part in any choice. PHM08 score: sum of exp(-d/13)-1 (early) and exp(d/10)-1 "
        "(late).",
        "",
        "| method | RMSE (cycles) | PHM08 score |",
        "|---|---|---|",
    ]
    for r in results:
        lines.append(f"| {r.method} | {r.rmse:.2f} | {r.score:.0f} |")
    for name, e, s in CMAPSS_PUBLISHED:
        lines.append(f"| {name} (published) | {e:.2f} | {s:.0f} |")
    best = results[0]
    lines += [
        "",
        f"Target RMSE <= 18 cycles: **{'met' if best.rmse <= 18 else 'not met'}** "
        f"({best.rmse:.2f} with similarity).",
        "",
        f"The exponential model needs the onset: over the whole history (RMSE {results[2].rmse:.1f}, mean "
        f"error {float(np.mean(results[2].estimates - truth)):+.0f} cycles, i.e. late) it fits one "
        "exponential to a HI that stays nearly flat and then falls faster and faster, so the prior "
        f"implies a mean life of {prior_life:.0f} cycles against {float(np.mean(res.train_lives)):.0f} "
        f"observed. From the onset it reaches RMSE {results[1].rmse:.1f} (mean error "
        f"{float(np.mean(results[1].estimates - truth)):+.0f} cycles), still well behind the similarity "
        "model, which is the one to use on FD001.",
        "",
        "Leave-one-out RMSE on the training engines (selection): "
        + ", ".join(f"w {cw} k {ck}: {e:.1f}" for cw, ck, e in cv)
        + ". Exponential from the onset, 5-fold RMSE on the training engines: "
        + ", ".join(f"{n:g} sigma offset {o:g}: {e:.1f}" for n, o, e in res.onset_cv)
        + ".",
    ]
    return "\n".join(lines) + "\n"


def run(datasets: Path) -> str:
    return "\n".join(
        [
            "Three public data sets; each part says how it was scored and what was chosen on which labels.",
            "",
            skab_section(datasets / "skab"),
            cwru_section(datasets / "cwru-bearing-0hp"),
            cmapss_section(datasets / "nasa-cmapss-fd001"),
        ]
    )


if __name__ == "__main__":  # pragma: no cover
    import os
    import sys

    root = Path(
        os.environ.get("OPENIIOT_DATASETS", Path(__file__).resolve().parents[2] / "shared" / "datasets")
    )
    sys.stdout.write(run(root))
