// Package benchmarks measures lifeevents against the raw engines it is built
// on, in the same run: ingest against bare kafka-go consumption and bare
// Temporal StartWorkflow calls. It is the one test binary besides
// devtemporal's that links the embedded Temporal server.
package benchmarks
