// Package results is the results file's schema: the types of a run and its stages, the plan
// they ran, GPU data, the metric names, reading and writing (atomically), and the codec of the
// HDR histograms a file stores.
//
// It imports no other package of llmload, so that whatever only reads results files (report,
// the CI gate, scripts in Go) links neither the engine, the HTTP client, NVML nor YAML. Users
// script against the file: its core names and units are fixed (durations in milliseconds as
// floats, rates per second); fields may be added, none may change meaning.
package results
