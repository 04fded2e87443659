// Command summarize reads the JSON lines bench/gateway-bench.sh writes (one line
// per wrk or loadgen run) and prints Markdown: per load shape, the median over
// rounds of requests/s, p50 and p99, the spread of requests/s, the ratio to
// the direct-to-backend run of the same tool and the proxy's CPU per request;
// then the added latency of each plain proxy over direct, and the targets of
// issue 7 (ratios measured in the same run) with PASS or FAIL. A ratio target
// is judged on the median of its per-round ratios: the script runs the two
// sides of each target back to back in every round, so that a host whose
// speed drifts moves both alike, and pairing them by round keeps that.
//
// After peer-bench's cmd/summarize (../shared/reference/peer-bench); the
// targets table is new.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"slices"
	"strings"
)

type row struct {
	Round    int     `json:"round"`
	Scenario string  `json:"scenario"`
	Group    string  `json:"group"`
	Base     string  `json:"base"`
	Shape    string  `json:"shape"`
	Tool     string  `json:"tool"`
	Requests int64   `json:"requests"`
	RPS      float64 `json:"rps"`
	P50      float64 `json:"p50_us"`
	P99      float64 `json:"p99_us"`
	Errors   int64   `json:"errors"`
	CPUs     float64 `json:"proxy_cpu_s"`
	// Backend, System and Softirq are the backend's CPU seconds, the whole
	// machine's busy seconds and its softirq seconds during the run (absent
	// in results of older scripts).
	Backend float64 `json:"backend_cpu_s"`
	System  float64 `json:"system_cpu_s"`
	Softirq float64 `json:"softirq_cpu_s"`
	// Idle is the machine's idle (and iowait) seconds during the run; nil
	// in results of older scripts, which did not record it.
	Idle *float64 `json:"idle_cpu_s"`
}

type key struct{ scenario, shape string }

type agg struct {
	first                    row
	rps, p50, p99, cpuPerReq []float64
	rpsByRound               map[int]float64
	requests                 []float64
	errors                   int64
	// µs per request of the backend, softirq and the rest of the machine
	// (busy − proxy − backend − softirq: the load generator, and anything
	// else running); empty for results without system figures.
	backendPerReq, softirqPerReq, restPerReq []float64
	// idlePerReq is the cores' idle time per request, idleShare the idle
	// share of all core time in percent; empty for results without it.
	idlePerReq, idleShare []float64
}

// A target is one line of issue 7's performance section: the median over
// rounds of num's requests/s over den's in the same round (pairedRatios), or
// (when addedP99) the median p99 of num minus that of den, in milliseconds.
type target struct {
	what     string
	num, den string
	shape    string
	addedP99 bool
	limit    float64 // minimum ratio, or maximum added milliseconds
	// diagnostic marks a comparison that is not one of the issue's
	// targets: it explains one (same work on both sides).
	diagnostic bool
}

var targets = []target{
	{what: "plain proxying", num: "portcullis-plain", den: "haproxy-plain", shape: "tput", limit: 0.8},
	{what: "bearer JWT RS256 + role", num: "portcullis-jwt", den: "haproxy-jwt", shape: "tput", limit: 1.0},
	{what: "bearer JWT, issuer trusted by OIDC discovery (as Entra ID is)", num: "portcullis-oidc-jwt", den: "haproxy-jwt", shape: "tput", limit: 1.0, diagnostic: true},
	{what: "Basic vs HAProxy userlist (plain password)", num: "portcullis-basic", den: "haproxy-basic-insecure", shape: "tput", limit: 1.0},
	{what: "Basic vs Caddy basic_auth bcrypt", num: "portcullis-basic", den: "caddy-basic-bcrypt", shape: "tput", limit: 10},
	{what: "API key in header vs HAProxy Basic", num: "portcullis-apikey", den: "haproxy-basic-insecure", shape: "tput", limit: 1.0},
	{what: "Basic, HAProxy sending the same headers to the backend", num: "portcullis-basic", den: "haproxy-basic-headers", shape: "tput", limit: 1.0, diagnostic: true},
	{what: "API key, HAProxy Basic sending the same headers", num: "portcullis-apikey", den: "haproxy-basic-headers", shape: "tput", limit: 1.0, diagnostic: true},
	{what: "mTLS with session resumption", num: "portcullis-mtls", den: "haproxy-mtls", shape: "tput", limit: 0.9},
	{what: "added p99 latency at 64 connections", num: "portcullis-plain", den: "direct", shape: "tput", addedP99: true, limit: 1.0},
}

// fewRequests marks runs too short for their scenario's rate.
const fewRequests = 100

var shapeTitles = map[string]string{
	"tput": "throughput shape (wrk -t2 -c64 / loadgen -c 64)",
	"lat":  "latency shape (wrk -t1 -c8 --latency / loadgen -c 8)",
}

func main() {
	in := flag.String("in", "raw.jsonl", "raw results written by bench/gateway-bench.sh")
	flag.Parse()
	f, err := os.Open(*in)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	rows, err := read(f)
	if err != nil {
		log.Fatalf("%s: %v", *in, err)
	}
	if err := write(os.Stdout, rows); err != nil {
		log.Fatal(err)
	}
}

func read(r io.Reader) ([]row, error) {
	var rows []row
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var r row
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			return nil, fmt.Errorf("line %d: %v", n, err)
		}
		if r.Scenario == "" || r.Shape == "" {
			return nil, fmt.Errorf("line %d: no scenario or shape", n)
		}
		rows = append(rows, r)
	}
	return rows, sc.Err()
}

func write(w io.Writer, rows []row) error {
	aggs := map[key]*agg{}
	var order []string
	for _, r := range rows {
		k := key{r.Scenario, r.Shape}
		a := aggs[k]
		if a == nil {
			a = &agg{first: r}
			aggs[k] = a
		}
		a.rps = append(a.rps, r.RPS)
		if a.rpsByRound == nil {
			a.rpsByRound = map[int]float64{}
		}
		a.rpsByRound[r.Round] = r.RPS
		a.requests = append(a.requests, float64(r.Requests))
		a.p50 = append(a.p50, r.P50)
		a.p99 = append(a.p99, r.P99)
		if r.CPUs > 0 && r.Requests > 0 {
			a.cpuPerReq = append(a.cpuPerReq, r.CPUs/float64(r.Requests)*1e6)
		}
		if r.System > 0 && r.Requests > 0 {
			per := func(v float64) float64 { return v / float64(r.Requests) * 1e6 }
			a.backendPerReq = append(a.backendPerReq, per(r.Backend))
			a.softirqPerReq = append(a.softirqPerReq, per(r.Softirq))
			proxy := r.CPUs
			if r.Scenario == r.Base { // direct: the "proxy" is the backend itself
				proxy = 0
			}
			a.restPerReq = append(a.restPerReq, per(r.System-proxy-r.Backend-r.Softirq))
			if r.Idle != nil { // 0 is a saturated machine, not a missing figure
				a.idlePerReq = append(a.idlePerReq, per(*r.Idle))
				a.idleShare = append(a.idleShare, 100**r.Idle/(*r.Idle+r.System))
			}
		}
		a.errors += r.Errors
		if !slices.Contains(order, r.Scenario) {
			order = append(order, r.Scenario)
		}
	}
	b := &strings.Builder{}
	for _, shape := range []string{"tput", "lat"} {
		coarse := false
		fmt.Fprintf(b, "\n### %s\n\n", shapeTitles[shape])
		fmt.Fprintln(b, "| scenario | grp | tool | req/s (median) | spread | p50 ms | p99 ms | vs direct | proxy CPU µs/req | errors | runs |")
		fmt.Fprintln(b, "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
		for _, s := range order {
			a := aggs[key{s, shape}]
			if a == nil {
				continue
			}
			m := median(a.rps)
			vsDirect := ""
			if base := aggs[key{a.first.Base, shape}]; base != nil && median(base.rps) > 0 {
				vsDirect = fmt.Sprintf("%.2f", m/median(base.rps))
			}
			cpu := ""
			if len(a.cpuPerReq) > 0 {
				cpu = fmt.Sprintf("%.0f", median(a.cpuPerReq))
			}
			mark := ""
			if median(a.requests) < fewRequests {
				mark, coarse = " †", true
			}
			fmt.Fprintf(b, "| %s | %s | %s | %s%s | %.0f%% | %s | %s | %s | %s | %d | %d |\n",
				s, a.first.Group, a.first.Tool, rps(m), mark, spread(a.rps), ms(median(a.p50)), ms(median(a.p99)),
				vsDirect, cpu, a.errors, len(a.rps))
		}
		if coarse {
			fmt.Fprintf(b, "\n† fewer than %d requests per run (bcrypt at 64 connections answers in waves): a coarse figure; a longer DURATION refines it.\n", fewRequests)
		}
	}

	writeCPUSplit(b, order, aggs)

	fmt.Fprintf(b, "\n### Added latency over direct (medians; plain proxying)\n\n")
	fmt.Fprintln(b, "| scenario | p50 +ms, 64 conns | p99 +ms, 64 conns | p50 +ms, 8 conns | p99 +ms, 8 conns |")
	fmt.Fprintln(b, "|---|---:|---:|---:|---:|")
	for _, s := range order {
		if !strings.HasSuffix(s, "-plain") {
			continue
		}
		cells := []string{s}
		for _, shape := range []string{"tput", "lat"} {
			a, d := aggs[key{s, shape}], aggs[key{"direct", shape}]
			for _, pick := range []func(*agg) []float64{func(a *agg) []float64 { return a.p50 }, func(a *agg) []float64 { return a.p99 }} {
				if a == nil || d == nil {
					cells = append(cells, "")
					continue
				}
				cells = append(cells, fmt.Sprintf("%+.2f", (median(pick(a))-median(pick(d)))/1000))
			}
		}
		fmt.Fprintf(b, "| %s |\n", strings.Join(cells, " | "))
	}

	fmt.Fprintf(b, "\n### Targets (issue 7), measured side by side in this run\n\n")
	fmt.Fprintln(b, "| target | measured | goal | verdict | proxy CPU µs/req, this vs that |")
	fmt.Fprintln(b, "|---|---:|---|---|---:|")
	for _, t := range targets {
		measured, goal, verdict := evaluate(t, aggs)
		what := t.what
		if t.diagnostic {
			what += " (diagnostic, not a target)"
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s |\n", what, measured, goal, verdict, cpuPair(t, aggs))
	}
	fmt.Fprintln(b, "\nThe verdicts follow the issue (requests/s in the same run). On a machine shared with other work, CPU per request moves less than requests/s and says the same thing the other way round.")
	_, err := io.WriteString(w, b.String())
	return err
}

// writeCPUSplit prints where the machine's CPU went per request in the
// throughput shape: the proxy, the backend, softirq (loopback delivery) and
// the rest (mostly the load generator). On two cores, requests/s is about
// 2 s over the sum, so a proxy that costs its peer's CPU but makes the
// backend or the load generator work harder still loses throughput.
func writeCPUSplit(b *strings.Builder, order []string, aggs map[key]*agg) {
	have := false
	for _, s := range order {
		if a := aggs[key{s, "tput"}]; a != nil && len(a.backendPerReq) > 0 {
			have = true
		}
	}
	if !have {
		return
	}
	fmt.Fprintf(b, "\n### Where the CPU goes, µs per request (throughput shape, medians)\n\n")
	fmt.Fprintln(b, "| scenario | proxy | backend | softirq | rest (load generator, other) | sum | idle | idle share |")
	fmt.Fprintln(b, "|---|---:|---:|---:|---:|---:|---:|---:|")
	for _, s := range order {
		a := aggs[key{s, "tput"}]
		if a == nil || len(a.backendPerReq) == 0 {
			continue
		}
		proxy := 0.0
		if s != a.first.Base && len(a.cpuPerReq) > 0 {
			proxy = median(a.cpuPerReq)
		}
		be, sq, rest := median(a.backendPerReq), median(a.softirqPerReq), median(a.restPerReq)
		idle, share := "–", "–"
		if len(a.idlePerReq) > 0 {
			idle, share = fmt.Sprintf("%.1f", median(a.idlePerReq)), fmt.Sprintf("%.1f%%", median(a.idleShare))
		}
		fmt.Fprintf(b, "| %s | %.1f | %.1f | %.1f | %.1f | %.1f | %s | %s |\n", s, proxy, be, sq, rest, proxy+be+sq+rest, idle, share)
	}
	fmt.Fprintln(b, "\nMeaningful on an idle machine only: \"rest\" includes anything else that ran. Softirq work done while a process runs is charged to that process too, so the columns overlap by up to the softirq figure and \"rest\" can come out slightly negative; compare sums and the backend column between scenarios, not the columns' absolute values. Idle is the time the cores had nothing to run, per request and as a share of all core time: on saturated cores, a run's requests/s is about the core seconds minus the idle ones over the sum.")
}

// evaluate returns the measured value, the goal and PASS, FAIL or why there is
// no verdict. Errors in the Portcullis runs fail the target: a proxy that
// answers fast with errors has not met it.
func evaluate(t target, aggs map[key]*agg) (measured, goal, verdict string) {
	num, den := aggs[key{t.num, t.shape}], aggs[key{t.den, t.shape}]
	if t.addedP99 {
		goal = fmt.Sprintf("≤ %.1f ms", t.limit)
	} else {
		goal = fmt.Sprintf("≥ %.1f× %s", t.limit, t.den)
	}
	switch {
	case num == nil && den == nil:
		return "", goal, "not measured (" + t.num + ", " + t.den + ")"
	case num == nil:
		return "", goal, "not measured (" + t.num + ")"
	case den == nil:
		return "", goal, "not measured (" + t.den + ")"
	}
	var ok bool
	if t.addedP99 {
		added := (median(num.p99) - median(den.p99)) / 1000
		measured = fmt.Sprintf("%+.2f ms (%s − %s p99)", added, t.num, t.den)
		ok = added <= t.limit
	} else {
		d := median(den.rps)
		if d == 0 {
			return "", goal, "no verdict: " + t.den + " served nothing"
		}
		ofMedians := median(num.rps) / d
		if rounds := pairedRatios(num, den); len(rounds) > 0 {
			r := median(rounds)
			per := make([]string, len(rounds))
			for i, x := range rounds {
				per[i] = fmt.Sprintf("%.2f", x)
			}
			measured = fmt.Sprintf("%.2f (%s / %s; rounds %s; ratio of medians %.2f)", r, t.num, t.den, strings.Join(per, " "), ofMedians)
			ok = r >= t.limit
		} else { // no round ran both sides: the medians' ratio is all there is
			measured = fmt.Sprintf("%.2f (%s / %s, medians of different rounds)", ofMedians, t.num, t.den)
			ok = ofMedians >= t.limit
		}
	}
	switch {
	case num.errors > 0:
		return measured, goal, fmt.Sprintf("FAIL (%d errors in %s)", num.errors, t.num)
	case ok:
		return measured, goal, "PASS"
	}
	return measured, goal, "FAIL"
}

// pairedRatios returns num's requests/s over den's for every round that ran
// both, in round order.
func pairedRatios(num, den *agg) []float64 {
	var rounds []int
	for r := range num.rpsByRound {
		if d, ok := den.rpsByRound[r]; ok && d > 0 {
			rounds = append(rounds, r)
		}
	}
	slices.Sort(rounds)
	out := make([]float64, len(rounds))
	for i, r := range rounds {
		out[i] = num.rpsByRound[r] / den.rpsByRound[r]
	}
	return out
}

// cpuPair prints the median CPU per request of both sides of a ratio target.
func cpuPair(t target, aggs map[key]*agg) string {
	if t.addedP99 {
		return ""
	}
	cell := func(name string) string {
		if a := aggs[key{name, t.shape}]; a != nil && len(a.cpuPerReq) > 0 {
			return fmt.Sprintf("%.0f", median(a.cpuPerReq))
		}
		return "–"
	}
	return cell(t.num) + " vs " + cell(t.den)
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// spread is the range of v as a percentage of its median.
func spread(v []float64) float64 {
	m := median(v)
	if len(v) < 2 || m == 0 {
		return 0
	}
	return (slices.Max(v) - slices.Min(v)) / m * 100
}

func ms(us float64) string {
	switch {
	case us >= 100000:
		return fmt.Sprintf("%.0f", us/1000)
	case us >= 10000:
		return fmt.Sprintf("%.1f", us/1000)
	default:
		return fmt.Sprintf("%.2f", us/1000)
	}
}

func rps(v float64) string {
	if v >= 100 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}
