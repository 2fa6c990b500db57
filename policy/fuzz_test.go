package policy

import (
	"testing"
)

// FuzzParseEvaluate: no input makes Parse, Evaluate, Check or Fix panic; a parsed policy
// round-trips through JSON to an equivalent one; every outcome is one of the three, and
// conditional always names what it depends on. Seeds: testdata/fuzz/FuzzParseEvaluate.
func FuzzParseEvaluate(f *testing.F) {
	f.Add([]byte(allowAllJSON), "list-zones", "ch-gva-2", "")
	f.Add([]byte(rules("deny", "iam", "allow", "source_ip.inIpRange('10.0.0.0/8')")), "list-api-keys", "", "10.1.2.3")
	ev := NewEvaluator()
	f.Fuzz(func(t *testing.T, data []byte, op, zone, ip string) {
		p, err := Parse(data)
		if err != nil {
			if p != nil {
				t.Fatal("a policy and an error")
			}
			return
		}
		again, err := Parse(p.JSON())
		if err != nil {
			t.Fatalf("re-parse of %s: %v", p.JSON(), err)
		}
		if !Equivalent(p, again) {
			t.Fatalf("round trip changed the policy: %s", p.JSON())
		}
		req := Request{Operation: op, Zone: zone, SourceIP: ip}
		for _, pair := range [][2]*Policy{{nil, p}, {p, nil}, {p, p}} {
			d := ev.Evaluate(pair[0], pair[1], req)
			switch d.Outcome {
			case Allow, Deny:
			case Conditional:
				if len(d.DependsOn) == 0 {
					t.Fatalf("conditional without depends-on: %+v", d)
				}
			default:
				t.Fatalf("outcome %q", d.Outcome)
			}
			if d.Outcome == Deny {
				if fps, err := ev.Fix(pair[0], pair[1], req); err == nil {
					for _, fp := range fps {
						if fp.Policy == nil {
							t.Fatal("fix without a policy")
						}
					}
				}
			}
		}
		_ = ev.Check(p)
	})
}
