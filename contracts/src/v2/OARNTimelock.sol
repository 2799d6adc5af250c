// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";

/// @title OARN timelock
/// @notice OpenZeppelin's TimelockController under its own name so the build ships its artifact.
///         Deployed with the Governor as the only proposer and canceller, anyone as executor and
///         no admin: every parameter change waits `minDelay` in public before it can run.
contract OARNTimelock is TimelockController {
    constructor(uint256 minDelay, address[] memory proposers, address[] memory executors, address admin)
        TimelockController(minDelay, proposers, executors, admin)
    {}
}
