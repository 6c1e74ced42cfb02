// Package consent will hold the citizen's consent records (ISO/IEC TS 27560
// in substance), the transfer authorisation every data transfer goes
// through, and the transparency log of transfers.
package consent
