//! The scheduler: the slots of a loaded model and the one loop that decides, step by step,
//! what the engine evaluates next.
//!
//! A slot owns one piece of work and the sequence it works on:
//! - the **reply** ([`Reply`]): a request's prompt, then its tokens, in the main context;
//! - the **read-ahead** ([`ReadAhead`]): a document's prefix read into the main context so that
//!   the first question about it finds it there (and on disk);
//! - the **read-alongside** ([`Alongside`](super::alongside::Alongside)): a document read into a second context of its own
//!   while replies use the main one, handed over through the disk state cache.
//!
//! Each turn of the loop reads the command channel, then gives one step to the slot whose turn
//! it is: the reply first (a batch of its prompt, or a token); else the read-ahead (one batch,
//! so that a request waits at most one batch for the engine, and reading goes on after it from
//! what the cache still shares with the document); else the read-alongside (one full batch).
//! While a reply is written, only requests to read alongside are taken up; every other command
//! waits for the reply's end, in its order. After each token of a reply the read-alongside gets
//! about as much time as the token took. With nothing to do, the loop sleeps on the channel
//! and samples the system's idle time for the thread policy once a second.
//!
//! The main context's tokens are one [`Mirror`](super::mirror::Mirror) (`Session::cached`),
//! which the reply and the read-ahead share: the read-ahead goes on from the part of it that
//! its document shares, and the reply reuses what its prompt shares.

use std::sync::mpsc;

use super::alongside::AlongsideSlot;
use super::preread::ReadAhead;
use super::reply::{Reply, Step};
use super::{Commands, Session, IDLE_LOAD_READING};
use crate::engine::{Command, TokenizeInput};

/// The slots of a loaded model: each empty or holding its work.
#[derive(Default)]
struct Slots<'m> {
    reply: Option<Reply>,
    ahead: Option<ReadAhead>,
    alongside: AlongsideSlot<'m>,
}

/// What the loop does with a command.
enum Taken {
    /// Serving goes on.
    Serve,
    /// Serving ends; the engine goes on with this command (`None`: the engine's handle is
    /// gone).
    End(Option<Command>),
}

impl<'m> Session<'m> {
    /// Serves commands until another model is loaded, the model is unloaded, or the engine
    /// shuts down. Returns the command that ended it.
    pub(super) fn run_slots(mut self, commands: &mut Commands<'_>) -> Option<Command> {
        let mut slots = Slots::default();
        loop {
            if slots.reply.is_some() {
                for (request, reply) in commands.take_alongside() {
                    self.alongside_start(&mut slots.alongside, &request, reply);
                }
            } else {
                let idle = slots.ahead.is_none() && slots.alongside.is_none();
                let command = if idle {
                    match commands.recv_timeout(IDLE_LOAD_READING) {
                        Ok(command) => Some(command),
                        Err(mpsc::RecvTimeoutError::Timeout) => {
                            self.threads.sample_load();
                            continue;
                        }
                        Err(mpsc::RecvTimeoutError::Disconnected) => None,
                    }
                    .map(Some)
                } else {
                    match commands.try_recv() {
                        Ok(command) => Some(Some(command)),
                        Err(mpsc::TryRecvError::Empty) => None,
                        Err(mpsc::TryRecvError::Disconnected) => Some(None),
                    }
                };
                match command {
                    Some(Some(command)) => {
                        if let Taken::End(next) = self.take(command, &mut slots, commands) {
                            return next;
                        }
                        continue;
                    }
                    Some(None) => return None,
                    None => {}
                }
            }
            self.step(&mut slots);
        }
    }

    /// Gives one step to the slot whose turn it is.
    fn step(&mut self, slots: &mut Slots<'m>) {
        if let Some(reply) = slots.reply.as_mut() {
            match self.reply_step(reply) {
                Step::Continue { secs } => self.alongside_tick(&mut slots.alongside, secs),
                Step::Done => slots.reply = None,
            }
        } else if let Some(job) = slots.ahead.as_mut() {
            if self.preread_step(job) {
                slots.ahead = None;
            }
        } else {
            self.alongside_step(&mut slots.alongside);
        }
    }

    /// Takes up `command` (with no reply under way).
    fn take(
        &mut self,
        command: Command,
        slots: &mut Slots<'m>,
        commands: &mut Commands<'_>,
    ) -> Taken {
        match command {
            Command::Preread { request, reply } => {
                if let Some(previous) = slots.ahead.take() {
                    self.preread_end(previous);
                }
                slots.ahead = self.preread_start(&request, reply);
            }
            Command::PrereadAlongside { request, reply } => {
                self.alongside_start(&mut slots.alongside, &request, reply);
            }
            Command::Generate { request, reply } => {
                self.alongside_handoff(&mut slots.alongside, &request);
                slots.reply = self.reply_start(request, reply);
            }
            Command::Tokenize { input, reply } => {
                let tokens = match input {
                    TokenizeInput::Text(text) => Ok(self.tokenize(&text, false)),
                    TokenizeInput::Chat(messages) => self.prompt_tokens(&messages),
                };
                reply
                    .send(tokens.map(|t| t.into_iter().map(|t| t.0).collect()))
                    .ok();
            }
            Command::ClearCache => self.clear_cache(),
            Command::Unload => {
                self.end_slots(slots);
                return Taken::End(commands.recv());
            }
            other @ (Command::Load { .. } | Command::Shutdown) => {
                self.end_slots(slots);
                return Taken::End(Some(other));
            }
            #[cfg(feature = "fault-injection")]
            Command::Panic => panic!("fault injected by a test"),
        }
        Taken::Serve
    }

    /// Ends the read-ahead before the model goes, keeping what was read on disk (a document
    /// read alongside goes with its context).
    fn end_slots(&mut self, slots: &mut Slots<'m>) {
        if let Some(job) = slots.ahead.take() {
            self.preread_end(job);
        }
    }
}
