// Package remote holds the machinery shared by the fetchers that talk to a
// network source (HTTP, GitHub, S3): pacing polls with jitter and backoff,
// streaming a download with a size limit and stall detection, a structural
// check of minisign signature files, and the hook through which the
// fetcher/s3 package supplies the S3 implementation.
package remote
