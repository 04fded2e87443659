package main

import (
	"strings"
	"testing"
)

const raw = `{"round":1,"scenario":"direct","group":"a","base":"direct","shape":"tput","tool":"wrk","requests":1000,"rps":60000,"p50_us":700,"p99_us":2000,"errors":0,"proxy_cpu_s":0.01}
{"round":1,"scenario":"haproxy-plain","group":"b","base":"direct","shape":"tput","tool":"wrk","requests":1000,"rps":40000,"p50_us":1300,"p99_us":4000,"errors":0,"proxy_cpu_s":0.02}
{"round":2,"scenario":"haproxy-plain","group":"b","base":"direct","shape":"tput","tool":"wrk","requests":1000,"rps":42000,"p50_us":1300,"p99_us":4000,"errors":0,"proxy_cpu_s":0.02}
{"round":3,"scenario":"haproxy-plain","group":"b","base":"direct","shape":"tput","tool":"wrk","requests":1000,"rps":30000,"p50_us":1300,"p99_us":4000,"errors":0,"proxy_cpu_s":0.02}
{"round":1,"scenario":"portcullis-plain","group":"b","base":"direct","shape":"tput","tool":"wrk","requests":1000,"rps":35000,"p50_us":1500,"p99_us":2500,"errors":0,"proxy_cpu_s":0.03}
{"round":2,"scenario":"portcullis-plain","group":"b","base":"direct","shape":"tput","tool":"wrk","requests":1000,"rps":30000,"p50_us":1500,"p99_us":2500,"errors":0,"proxy_cpu_s":0.03}
{"round":3,"scenario":"portcullis-plain","group":"b","base":"direct","shape":"tput","tool":"wrk","requests":1000,"rps":27000,"p50_us":1500,"p99_us":2500,"errors":0,"proxy_cpu_s":0.03}
{"round":1,"scenario":"haproxy-basic-insecure","group":"c","base":"direct","shape":"tput","tool":"wrk","requests":1000,"rps":45000,"p50_us":1300,"p99_us":4000,"errors":0,"proxy_cpu_s":0.02}
{"round":2,"scenario":"portcullis-basic","group":"c","base":"direct","shape":"tput","tool":"wrk","requests":1000,"rps":50000,"p50_us":1300,"p99_us":4000,"errors":0,"proxy_cpu_s":0.03}
{"round":1,"scenario":"haproxy-jwt","group":"d","base":"direct","shape":"tput","tool":"wrk","requests":1000,"rps":18000,"p50_us":3000,"p99_us":8000,"errors":0,"proxy_cpu_s":0.06}
{"round":1,"scenario":"portcullis-jwt","group":"d","base":"direct","shape":"tput","tool":"wrk","requests":1000,"rps":20000,"p50_us":3000,"p99_us":8000,"errors":3,"proxy_cpu_s":0.05}
{"round":1,"scenario":"haproxy-mtls","group":"e","base":"direct-lg","shape":"tput","tool":"loadgen","requests":1000,"rps":26000,"p50_us":2000,"p99_us":5000,"errors":0,"proxy_cpu_s":0.03}
`

func TestWrite_TargetsAreJudgedOnRatiosPairedByRound(t *testing.T) {
	rows, err := read(strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := write(&b, rows); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		// Paired by round: 35000/40000, 30000/42000, 27000/30000, whose median is 0.875; the medians of
		// each side (30000 and 40000, from different rounds) would have made it 0.75, a FAIL.
		"| plain proxying | 0.88 (portcullis-plain / haproxy-plain; rounds 0.88 0.71 0.90; ratio of medians 0.75) | ≥ 0.8× haproxy-plain | PASS | 30 vs 20 |",
		"| bearer JWT RS256 + role | 1.11 (portcullis-jwt / haproxy-jwt; rounds 1.11; ratio of medians 1.11) | ≥ 1.0× haproxy-jwt | FAIL (3 errors in portcullis-jwt) | 50 vs 60 |",
		// No round ran both sides.
		"| Basic vs HAProxy userlist (plain password) | 1.11 (portcullis-basic / haproxy-basic-insecure, medians of different rounds) | ≥ 1.0× haproxy-basic-insecure | PASS | 30 vs 20 |",
		"| mTLS with session resumption |  | ≥ 0.9× haproxy-mtls | not measured (portcullis-mtls) | – vs 30 |",
		"| Basic vs Caddy basic_auth bcrypt |  | ≥ 10.0× caddy-basic-bcrypt | not measured (caddy-basic-bcrypt) | 30 vs – |",
		"| added p99 latency at 64 connections | +0.50 ms (portcullis-plain − direct p99) | ≤ 1.0 ms | PASS |  |",
		"| haproxy-plain | b | wrk | 40000 | 30% | 1.30 | 4.00 | 0.67 | 20 | 0 | 3 |",
		"| haproxy-plain | +0.60 | +2.00 |  |  |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
}

func TestWrite_SplitsTheMachinesCPUPerRequest(t *testing.T) {
	const withSystem = `{"round":1,"scenario":"direct","group":"a","base":"direct","shape":"tput","tool":"wrk","requests":1000,"rps":60000,"proxy_cpu_s":0.02,"backend_cpu_s":0.02,"system_cpu_s":0.05,"softirq_cpu_s":0.01}
{"round":1,"scenario":"haproxy-plain","group":"b","base":"direct","shape":"tput","tool":"wrk","requests":1000,"rps":40000,"proxy_cpu_s":0.03,"backend_cpu_s":0.02,"system_cpu_s":0.08,"softirq_cpu_s":0.01,"idle_cpu_s":0.02}
{"round":1,"scenario":"nginx-plain","group":"b","base":"direct","shape":"tput","tool":"wrk","requests":1000,"rps":40000,"proxy_cpu_s":0.03,"backend_cpu_s":0.02,"system_cpu_s":0.08,"softirq_cpu_s":0.01,"idle_cpu_s":0}
`
	rows, err := read(strings.NewReader(withSystem))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := write(&b, rows); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		// direct: the target is the backend, so no proxy column and no double count
		"| direct | 0.0 | 20.0 | 10.0 | 20.0 | 50.0 | – | – |", // a result without the idle figure
		"| haproxy-plain | 30.0 | 20.0 | 10.0 | 20.0 | 80.0 | 20.0 | 20.0% |",
		"| nginx-plain | 30.0 | 20.0 | 10.0 | 20.0 | 80.0 | 0.0 | 0.0% |", // a saturated machine, not a missing figure
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, b.String())
		}
	}
}

func TestRead_RefusesLinesWithoutScenario(t *testing.T) {
	for name, in := range map[string]string{
		"not JSON":    "{",
		"no scenario": `{"shape":"tput"}`,
		"no shape":    `{"scenario":"direct"}`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := read(strings.NewReader(in)); err == nil {
				t.Fatal("read accepted it")
			}
		})
	}
}
