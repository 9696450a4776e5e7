// Address reservations of the Docker plugin: what RequestAddress took before an endpoint holds
// it. Docker's IPAM protocol reserves an address (RequestAddress) in one call and names the
// endpoint that uses it (CreateEndpoint) in the next, so an agent that dies between the two
// leaves an address key no endpoint refers to. Each reservation therefore has a record beside
// its address key, written in the same transaction: which host made it and when. The record
// goes in the transaction that turns the reservation into an endpoint, or that releases it;
// one left longer than RESERVATION_MAX_AGE_MS is orphaned, and its host's agent reclaims it
// (at start and then periodically).
//
// Design notes (2026-12):
// - Its own key, not a richer value of the address key: every other path (connect, reannounce,
//   removeEndpoint) reads that value as the holder's endpoint id.
// - Per host: only the host whose agent made a reservation can tell it is not in flight, so the
//   key carries the node and each agent lists only its own.
// - The age bound, not "no endpoint at agent start": Docker retries a CreateEndpoint the dead
//   agent could not answer, and the restarted agent may serve it (it finds the holder by the
//   address key).
import { ROOT } from '../cluster/index.ts'

/** A reservation without an endpoint older than this is orphaned (Docker's calls take ms). */
export const RESERVATION_MAX_AGE_MS = 30_000

export interface ReservationRecord {
  /** The endpoint id the address key holds. */
  id: string
  networkId: string
  ip: string
  node: string
  /** ISO time of RequestAddress. */
  created: string
}

export const reservationKeys = {
  one: (node: string, networkId: string, ip: string) =>
    `${ROOT}docker/reservations/${node}/${networkId}/${ip}`,
  ofNode: (node: string) => `${ROOT}docker/reservations/${node}/`,
}

/** The record's value; undefined for one that is not a reservation (left alone). */
export function parseReservation(value: string): ReservationRecord | undefined {
  try {
    const r = JSON.parse(value) as Partial<ReservationRecord>
    if (
      typeof r.id === 'string' &&
      typeof r.networkId === 'string' &&
      typeof r.ip === 'string' &&
      typeof r.node === 'string' &&
      typeof r.created === 'string' &&
      !Number.isNaN(Date.parse(r.created))
    )
      return r as ReservationRecord
  } catch {}
  return undefined
}

/** Whether a reservation made at `created` is old enough to be orphaned (pure). */
export function isStale(r: Pick<ReservationRecord, 'created'>, now: number, maxAgeMs: number) {
  return now - Date.parse(r.created) > maxAgeMs
}
