// Package policies will hold the service catalog as data, the Rego
// eligibility and data-sharing policies, and the engine that evaluates them.
package policies
