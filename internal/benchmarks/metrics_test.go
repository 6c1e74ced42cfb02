package benchmarks

import (
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/lifeevents/lifeevents/ingest"
)

func promRegistry() *prometheus.Registry { return prometheus.NewRegistry() }

// counterValue sums the rejected counter over all reasons.
func counterValue(m *ingest.Metrics) float64 {
	ch := make(chan prometheus.Metric, 16)
	go func() { m.Rejected.Collect(ch); close(ch) }()
	var sum float64
	for metric := range ch {
		var d dto.Metric
		_ = metric.Write(&d)
		sum += d.GetCounter().GetValue()
	}
	return sum
}
