// Package statehook lets package overseertest give a State what only
// package overseer can: the function State.Ready calls, an unexported
// field. Package overseer installs SetReady when it is initialised, so
// any importer of overseer finds it set.
package statehook

// SetReady sets the function that state's Ready calls. state must be a
// *overseer.State; this package cannot name the type without an import
// cycle.
var SetReady func(state any, ready func())
