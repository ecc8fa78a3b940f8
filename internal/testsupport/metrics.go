package testsupport

import (
	"net/http"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Metrics is one scrape of a /metrics endpoint, by metric family name.
type Metrics map[string]*dto.MetricFamily

// Scrape GETs url, a /metrics endpoint, and parses its text exposition.
func Scrape(t testing.TB, url string) Metrics {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	return fams
}

// Value is the value of the series of name whose labels include these
// name, value pairs: a counter's or a gauge's value, a histogram's count
// (for name or name_count) or its sum (for name_sum); summed over the series that
// match, 0 if none does.
func (m Metrics) Value(name string, labels ...string) float64 {
	var sum float64
	for _, s := range m.series(name, labels) {
		sum += s
	}
	return sum
}

// Has reports whether a series of name with these labels exists.
func (m Metrics) Has(name string, labels ...string) bool { return len(m.series(name, labels)) > 0 }

func (m Metrics) series(name string, labels []string) []float64 {
	base, part := name, ""
	for _, suffix := range []string{"_count", "_sum"} {
		if f, ok := m[strings.TrimSuffix(name, suffix)]; ok && strings.HasSuffix(name, suffix) && f.GetType() == dto.MetricType_HISTOGRAM {
			base, part = strings.TrimSuffix(name, suffix), suffix
		}
	}
	f, ok := m[base]
	if !ok {
		return nil
	}
	var out []float64
	for _, metric := range f.GetMetric() {
		if !hasLabels(metric, labels) {
			continue
		}
		switch {
		case part == "_count", metric.Histogram != nil && part == "":
			out = append(out, float64(metric.GetHistogram().GetSampleCount()))
		case part == "_sum":
			out = append(out, metric.GetHistogram().GetSampleSum())
		case metric.Counter != nil:
			out = append(out, metric.GetCounter().GetValue())
		case metric.Gauge != nil:
			out = append(out, metric.GetGauge().GetValue())
		case metric.Untyped != nil:
			out = append(out, metric.GetUntyped().GetValue())
		}
	}
	return out
}

func hasLabels(metric *dto.Metric, pairs []string) bool {
	for i := 0; i+1 < len(pairs); i += 2 {
		found := false
		for _, l := range metric.GetLabel() {
			if l.GetName() == pairs[i] && l.GetValue() == pairs[i+1] {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}
