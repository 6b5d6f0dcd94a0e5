#pragma once
// Seats (README "Seats"): a hold event with a seat map. A claim names the seat it holds (one seat, one
// holder); the hold ends as any hold does (its expiry or a cancel frees the seat), or, on an event with a
// price, an order line pays for it: the order takes the hold over (it no longer expires), its end sells
// the seat (the hold confirmed) or gives the hold back to its holder with its expiry.
#include <optional>
#include <string>

#include "processors/decide_context.h"

namespace allot::processors::detail {

// At a seated event's creation: a free record for every seat.
void start_seats(Ctx& x, const topics::CreateEvent& spec);

// A claim that would hold a unit of `e`, judged against the seat map: seat_required (a seated event, no
// seat named), unknown_seat (no such seat, or the event has none), seat_taken; nullopt when it may go on.
std::optional<topics::Outcome> judge_seat(const Ctx& x, const EventState& e, const std::string& seat);
// The seat the hold of claim `claim_request_id` takes; the seat it holds ("" for a hold without one); what
// the hold's end does to it (`state`: sold when confirmed, free when cancelled or expired).
void take_seat(Ctx& x, const std::string& event_id, const std::string& user_id, const std::string& claim_request_id,
               const std::string& seat);
std::string seat_of_hold(const Ctx& x, const std::string& event_id, const std::string& claim_request_id);
void end_seat(Ctx& x, const std::string& event_id, const std::string& seat, std::string_view state);
// The seat event's price; nullopt when the event has no seat map.
std::optional<int64_t> seat_price(const Ctx& x, const EventState& e);

// An order line naming a seat (reserve): the holder's live hold becomes the order's. Answers `d`.
void reserve_seat(Ctx& x, EventState& e, const topics::Reserve& reserve, topics::Decision& d);
// The order's end for its line on `seat`: sold (the hold confirmed) or released (the hold back with its
// expiry, which may have passed: then it expires now).
void end_seat_reservation(Ctx& x, EventState& e, const std::string& seat, topics::Outcome end, topics::Decision& d);

}  // namespace allot::processors::detail
