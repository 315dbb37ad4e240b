"""The texts the dashboards show beside their figures: Markdown summaries of a topic run's
views and the fixed notes on how to read a figure.

Pure functions of results (no Panel, no computing beyond formatting), so a notebook can
print the same summary an explorer shows: ``print(layer_text(run.at(layer=3)))``. Each
returns a Markdown string (HTML for ``HEALTH_LEGEND``); cost: formatting only.
"""

from __future__ import annotations

import math

# ---------------------------------------------------------------------------- hessian
BULK_TEXT = (
    "**Bulk and outliers** (Sagun et al. 2017). After training, almost all eigenvalues sit "
    "in a bulk near zero and a few outliers (red spikes) stand apart, about one per class "
    "(C−1 to C). Change the number of classes and count the spikes; widen the network and "
    "the bulk at zero takes a larger share of the spectrum while the outliers stay; change "
    "the separation of the data and the outliers move.")
EOS_TEXT = (
    "**Edge of stability** (Cohen et al. 2021). With full-batch gradient descent at step "
    "size η, the sharpness (top Hessian eigenvalue) rises until it reaches 2/η, the largest "
    "curvature at which GD is stable, and then hovers there while the loss keeps falling, "
    "no longer monotonically. Pick the *edge of stability* demo and change η: the plateau "
    "follows the dashed line. (With SGD or Adam the line is only a reference.)")
COMPARE_TEXT = (
    "**Hessian vs Gauss–Newton vs Fisher.** The GGN keeps only the curvature of the loss "
    "in the network's outputs (J^T H_L J): it is positive semi-definite and, for "
    "cross-entropy, equal to the true Fisher. The Hessian adds the network's own second "
    "derivatives (its negative eigenvalues come from there). The empirical Fisher averages "
    "g g^T of the per-sample gradients at the observed labels: it shrinks as the model "
    "fits the data.")


def hessian_summary(experiment, view) -> str:
    """The line above the Hessian explorer's tabs: size, loss, spectrum and cost of
    `view` (a HessianView) of `experiment` (the run's ExperimentResult)."""
    return (
        f"**{experiment.num_params:,} parameters**, {experiment.dataset.num_samples} "
        f"samples · step {view.step}: loss {view.loss:.4g}, accuracy {view.accuracy:.1%} · "
        f"λ1 = {view.top_values[0]:.4g}, λmin = {view.min_value:.3g} · "
        f"trace = {view.trace:.4g} ± {view.trace_std:.2g} (XTrace) · "
        f"**{view.num_outliers} outliers** above the bulk, "
        f"{view.near_zero_mass:.0%} of the spectrum within 5% of λ1 of zero · "
        f"{view.num_matvecs:,} Hessian-vector products" +
        ("" if view.checkpoints_ready else " (earlier checkpoints: computing…)"))


def sharpness_text(run) -> str:
    """Sharpness against 2/η over the training of `run` (a HessianRun); "" without a
    sharpness record."""
    s = run.sharpness()
    if s is None:
        return ""
    reached = (f"reached 0.9 × 2/η at step {s['first_step']}, then averaged "
               f"{s['mean_after']:.3g} (±{s['rel_spread_after']:.0%})"
               if s["first_step"] >= 0 else "stayed below 2/η")
    return (f"Sharpness {s['initial']:.3g} at step 0, max {s['max']:.3g}; "
            f"2/η = {s['threshold']:.3g}: {reached}. Optimizer: "
            f"{run.experiment.config.optimizer}, η = {run.experiment.config.lr:g}.")


def compare_text(cmp) -> str:
    """Top, smallest eigenvalue and trace of each curvature of `cmp` (a CompareView)."""
    return " · ".join(
        f"**{kind}**: λ1 = {cmp.top_values[kind][0]:.4g}, λmin = "
        f"{cmp.min_value[kind]:.3g}, trace = {cmp.trace[kind]:.4g} ± "
        f"{cmp.trace_std[kind]:.2g}" for kind in cmp.curves) + " (at the last checkpoint)"


# ---------------------------------------------------------------------------- eigenspectra
HEALTH_LEGEND = (
    "<span style='color:#2ca02c'>&#9632;</span> typical 2 &lt; alpha &lt; 6 &nbsp; "
    "<span style='color:#d62728'>&#9632;</span> over-trained / very heavy tail (&lt; 2) "
    "&nbsp; <span style='color:#ff7f0e'>&#9632;</span> under-trained (&gt; 6) &nbsp; "
    "<span style='color:#8c6d31'>&#9632;</span> exponential tail &nbsp; "
    "<span style='color:#7f7f7f'>&#9632;</span> fit failed (reason in the hover)")
RMT_NOTE = (
    "**How to read these.** *MP*: the eigenvalues of W^T W / N of a noise matrix fill the "
    "Marchenko–Pastur bulk; nothing sits above lambda+. *BBP*: plant a direction of "
    "strength theta in the covariance; above sqrt(gamma) one eigenvalue leaves the bulk and "
    "its eigenvector aligns with the planted one (overlap); below, the signal is invisible. "
    "*Semicircle*: a symmetric noise matrix. *Heavy tails*: entries with P(|w| > t) ~ "
    "t^-mu give an ESD with a power-law tail, the signature trained layers show (alpha "
    "between 2 and 6).")


def layer_text(view) -> str:
    """The Markdown under the layer's title: its metrics, fits and notes (`view`: a
    LayerView)."""
    lf = view.fit
    r, pl = lf.row, lf.powerlaw
    lines = [f"**{r['name']}** ({r['layer_type']}, {r['N']} x {r['M']}"
             + (f", {r['rf']} kernel positions pooled" if r["rf"] > 1 else "") + ")",
             f"- alpha = **{r['alpha']:.3f}** ± {r['sigma']:.3f} (KS D = {r['D']:.3f}), "
             f"xmin = {r['xmin']:.4g}, {r['num_pl_spikes']} eigenvalues in the tail",
             f"- alpha_weighted = {r['alpha_weighted']:.3f}, log_norm = "
             f"{r['log_norm']:.3f}, stable rank = {r['stable_rank']:.2f}, "
             f"entropy = {r['entropy']:.3f}"]
    if lf.mp is not None:
        lines.append(f"- MP bulk edge lambda+ = {lf.mp.lambda_plus:.4g} (entry std "
                     f"{lf.mp.sigma_mp:.3g}); **{lf.mp.num_spikes} spikes** above it")
    if lf.rand_mp is not None:
        lines.append(f"- shuffled weights: {lf.rand_mp.num_spikes} spikes (correlation "
                     f"traps), JS distance to the real ESD {r['rand_distance']:.3f}")
    if pl.fit == "truncated_power_law" and pl.ok:
        lines.append(f"- truncated power law: Lambda = {pl.Lambda:.3g}")
    if r.get("num_fingers"):
        lines.append(f"- clipped {r['num_fingers']} finger eigenvalue(s); alpha before: "
                     f"{r['raw_alpha']:.3f}")
    if r.get("reason"):
        lines.append(f"- note: {r['reason']}")
    if not pl.ok:
        lines.append("- **fit failed**: the reason above says why")
    return "\n".join(lines)


def summary_text(fits, table, epoch, farms: bool) -> str:
    """The line above the alpha bars: model, layers, mean alphas, warnings, time (`fits`:
    a FitTable, `table`: its rows at `epoch`)."""
    from workbench.eigenspectra import summary

    run = fits.run
    s = summary(table)
    counts = table["warning"].value_counts()
    ep = f" · epoch {run.epoch_of(epoch)}" if run.epochs else ""
    return (
        f"**{run.label}**{ep}{' · FARMS ESD' if farms else ''} · {len(table)} layers "
        f"analyzed, {len(run.skipped)} arrays skipped (biases, norms, tiny; see the Table "
        f"tab) · mean alpha **{s.get('alpha', float('nan')):.2f}**, mean alpha_weighted "
        f"{s.get('alpha_weighted', float('nan')):.2f} · "
        f"{int(counts.get('over-trained', 0))} over-trained (< 2), "
        f"{int(counts.get('under-trained', 0))} under-trained (> 6), "
        f"{int(counts.get('fit failed', 0))} failed · eigenvalues in {run.seconds:.2f} s")


def demos_text(d) -> str:
    """The random-matrix demos (`d`: RMTDemos), each against its theory."""
    lo, hi = d.mp_edges
    return (
        f"W is {d.N} x {d.M} (Q = {d.Q:.2f}, gamma = M/N = {d.gamma:.3f}). "
        f"**MP**: bulk on [{lo:.3g}, {hi:.3g}], largest sample {d.mp[-1]:.3g}. "
        f"**BBP**: threshold sqrt(gamma) = {d.bbp_threshold:.3f}; theta = {d.theta:.2f} is "
        f"{'above: an outlier at' if d.above_threshold else 'below: no outlier, the top stays at'} "
        f"{d.spike_location:.3f} (observed {d.spiked[-1]:.3f}); overlap "
        f"|<v, u>|^2 = {d.overlap:.3f} (theory {d.spike_overlap:.3f}). "
        f"**Heavy tails**: entries with tail exponent mu = {d.mu:.1f} give a fitted "
        f"alpha = {d.heavy_fit.alpha:.2f}"
        + (f" (theory 1 + mu/2 = {d.heavy_alpha:.2f})." if d.mu < 2
           else " (mu >= 2: no universal exponent)."))


def training_text(run) -> str:
    """The digits MLP's checkpoints and test accuracies (`run`: its EigenspectraRun)."""
    return (
        "**Digits MLP 64-256-128-10**, SGD with momentum, checkpoints at epochs "
        f"{', '.join(map(str, run.epochs))}. Test accuracy: "
        + ", ".join(f"{e}: {a:.0%}" for e, a in run.accuracy.items())
        + ". As the network learns, the ESDs of its weight matrices grow heavy tails "
        "and alpha falls from its random-init value. Pick *digits MLP* as the model to "
        "inspect one checkpoint's layers.")


# ---------------------------------------------------------------------------- spectral
KIND_NOTES = {
    "bulk+outliers": "a bulk of radius 0.1 around 0 and 5 outliers at 2, 4, ..., 10 "
                     "(the shape of a trained network's Hessian)",
    "marchenko-pastur": "eigenvalues of a Wishart matrix X^T X / N with N = 2n "
                        "(a random weight matrix's Gram)",
    "clustered": "three tight clusters (width 1e-3) at 1, 2 and 5",
    "indefinite": "uniform on [-5, 5] with outliers at -8 and 9",
    "degenerate": "only three distinct values (-2, 3, 10): the Krylov space is exhausted "
                  "after 3 steps",
    "well-separated": "1, 2, ..., n: no outliers, so Lanczos converges slowly",
}


def playground_summary(run, view, kpm: bool = True) -> str:
    """The engine playground's text: the test spectrum, SLQ (and KPM when `kpm`) at
    `view`'s step against the exact eigenvalues, and the top-k race of `run`."""
    ours = run.race.curves["top_eigs"]
    power = run.race.curves["power iteration"]
    to_ours, to_power = ours.matvecs_to(run.race.tol), power.matvecs_to(run.race.tol)
    if to_ours and to_power:
        race = (f"top_eigs reached {run.race.tol:g} after **{to_ours}** matvecs, power "
                f"iteration with deflation after **{to_power}** "
                f"(**{to_power / to_ours:.0f}x** more)")
    elif to_ours:
        race = (f"top_eigs reached {run.race.tol:g} after **{to_ours}** matvecs; power "
                f"iteration with deflation had not after **{power.num_matvecs}**")
    else:
        race = "neither solver reached the tolerance within the budget"
    exhausted = (f" Probe 0's Krylov space was exhausted at step {view.exhausted_at}: "
                 "its Ritz values are exact eigenvalues."
                 if view.exhausted_at else "")
    kpm_text = (f" · KPM ({view.kpm.num_steps} moments, {view.kpm.num_matvecs} matvecs "
                f"incl. the bounds): W1 = {view.kpm_error:.3g}" if kpm else "")
    return (
        f"**{run.kind}**, n = {run.n:,}: {KIND_NOTES.get(run.kind, '')}.  \n"
        f"Step **{view.step}** of {run.steps_run}: SLQ {view.slq.num_probes} probes x "
        f"{view.step} steps = **{view.slq.num_matvecs} matvecs**, sigma = "
        f"{view.slq.sigma:.3g}, W1 to the exact eigenvalues = {view.slq_error:.3g}"
        f"{kpm_text}. Largest Ritz value of probe 0 is {view.top_ritz_error:.1e} from the "
        f"largest eigenvalue.{exhausted}  \n"
        f"Top-{run.race.k} race: {race}. (Run: {run.seconds:.1f} s.)")


# ---------------------------------------------------------------------------- clustering
READING = ("**Reading it.** k-means cuts the plane into convex cells, so it cannot follow "
           "moons or rings. Spectral clustering builds a graph of neighbours: its normalized "
           "Laplacian has one (near) zero eigenvalue per well-separated group, and the gap "
           "after them (red) estimates k. The eigenvectors map each group to a tight blob "
           "(right), where k-means works.")


def _fmt(v, fmt: str = "{:.3f}") -> str:
    return "—" if v is None or (isinstance(v, float) and not math.isfinite(v)) else \
        fmt.format(v)


def points_title(run) -> str:
    """Title of a clustering run's scatter: the data, its size and the algorithm."""
    d = run.data.dataset
    name = d.name
    if name == "two_gaussians":
        name = "two Gaussians (signal axis, one noise axis)"
    elif d.X.shape[1] > 2:
        name += f" ({d.X.shape[1]}-D, top 2 principal components)"
    return f"{name}: {d.n:,} points, {run.algorithm}"


def metrics_text(v, run, g) -> str:
    """Scores and times of `v` (a ClusteringView with scores) of `run`, with the eigengap
    of `g` (the Laplacian embedding shown, or None)."""
    s = v.scores
    if run.algorithm == "spectral":
        times = [f"graph {g.graph_seconds:.2f} s", f"embedding {g.embed_seconds:.2f} s "
                 f"({g.matvecs} solves)", f"labels {v.seconds * 1e3:.0f} ms"]
    else:
        times = [f"fit {v.seconds:.2f} s"]
        if "init_s" in v.info:
            times.append(f"seeding {v.info['init_s'] * 1e3:.0f} ms, "
                         f"{v.info['n_iter']} iterations")
    extra = f" · **PPP chose k = {v.info['k_chosen']}** (BIC)" if "k_chosen" in v.info \
        else ""
    gap = ""
    if g is not None:
        gap = (f" · eigengap estimate **k = {g.eigengap()}**"
               + (f" ({g.components} graph components)" if g.components > 1 else ""))
    truth = "" if run.data.dataset.labels is not None else \
        " (no true labels: ARI/NMI undefined)"
    return (
        f"**ARI** {_fmt(s.ari)} · **NMI** {_fmt(s.nmi)} · **accuracy** "
        f"{_fmt(s.accuracy)} · **silhouette** {_fmt(s.silhouette)} (2,000-point sample) "
        f"· **inertia** {_fmt(s.inertia, '{:.4g}')} · clusters found {s.n_clusters}"
        f"{extra}{gap}{truth}<br>**time**: {', '.join(times)}")


def selection_text(sel, n: int) -> str:
    """The k-selection curves' suggestions (`sel`: a KSelection of `n` points)."""
    from workbench.clustering.run import SELECTION_SAMPLE
    from workbench.clustering.settings import K_MAX

    sample = f" on a random sample of {SELECTION_SAMPLE:,} points" \
        if n > SELECTION_SAMPLE else ""
    sug = ", ".join(f"{name} → **{v}**" for name, v in sel.suggested.items())
    return (
        f"k-means for k = 1..{K_MAX}{sample} ({sel.seconds:.1f} s). Suggested: {sug}. "
        "Dashed line: the k in the sidebar. Each rule is a heuristic: the elbow and the "
        "silhouette favour round clusters, BIC favours Gaussian ones (moons need many), "
        "and the eigengap counts the graph's components when it falls apart, else takes "
        "the largest gap.")


def grid_text(done: int, settings) -> str:
    """The comparison grid's progress (`done` cells) for the settings' noise and seed."""
    from workbench.clustering.compare import ALGORITHMS, GRID_DATASETS, GRID_SAMPLES

    return (
        f"**{done}/{len(GRID_DATASETS) * len(ALGORITHMS)} cells** · {GRID_SAMPLES:,} "
        f"points each, noise x{settings.noise:g}, seed {settings.seed} (the sidebar's "
        "noise and seed). Rows: datasets; columns: algorithms, each with the true number "
        "of clusters (PPP chooses its own k by BIC). Titles: fit time and ARI against the "
        "true labels.")


def split_text(r, n: int, d: int) -> str:
    """The spectral split of a two-cluster mixture (`r`: a SplitResult, n points in d
    dimensions) against the detectability threshold."""
    side = "above" if r.signal > r.threshold else "below"
    return (
        f"x = y·μ + z with z ~ N(0, I) in d = {d:,} dimensions, n = {n:,} points, "
        f"‖μ‖ = {r.signal:.2f}, {side} the threshold (d/n)^¼ = {r.threshold:.3f}. "
        f"Spectral split (sign of the top singular vector): **accuracy "
        f"{r.accuracy:.3f}** (theory {r.theory:.3f}, chance 0.5). Below the "
        "threshold the top direction of the data is noise: no method finds the "
        "clusters as n, d grow; above, it tilts towards μ and the two bumps separate.")


# ---------------------------------------------------------------------------- low rank
def approximation_text(view, notice: str = "") -> str:
    """The table of numbers beside the singular values of `view` (a LowRankView), with a
    warning line `notice` above it when given."""
    k = view.rank
    if view.approx is None:
        return (f"**{view.label}** · rank {k} keeps {view.energy:.1%} of the energy "
                "(sum of s_i^2) · computing the approximation…")
    m, n = view.shape
    head = f"⚠ {notice}\n\n" if notice else ""
    return head + (
        f"| {view.label}: rank **{k}** of {min(m, n)} | |\n|:---|---:|\n"
        f"| relative error ‖A − A_k‖_F / ‖A‖_F | **{view.fro:.4f}** |\n"
        f"| optimum (truncated SVD, Eckart–Young) | {view.fro_opt:.4f} |\n"
        f"| error / optimum | **{view.fro_ratio:.3f}×** |\n"
        f"| energy kept by the optimum | {view.energy:.1%} |\n"
        f"| numbers stored (m n = {m * n:,}) | {view.num_parameters:,} — "
        f"**{view.compression:.1f}× smaller** |\n"
        f"| decomposition time (once, at rank {view.max_rank}) | {view.seconds:.3f} s |")


def completion_text(done) -> str:
    """Outcome and cost of a matrix completion (`done`: a CompletionRun)."""
    res, mask = done.result, done.mask
    m, n = done.truth.shape
    head = (f"**Recovered** to {res.final_error:.1e} (relative error on all entries)"
            if res.recovered else f"**Not recovered** (to 1e-6): relative error "
            f"{res.final_error:.2e} on all entries")
    return (
        f"{head}  \n{int(mask.sum()):,} observed entries = "
        f"{mask.sum() / done.dof:.2f}× the {done.dof:,} degrees of freedom of a "
        f"rank-{res.rank} {m} x {n} matrix · {len(res.history)} sweeps, "
        f"{res.seconds_per_sweep * 1e3:.1f} ms per sweep")
