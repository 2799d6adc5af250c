// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {ERC20Votes} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Votes.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";

/// @title OARN governance token
/// @notice ERC-20 with Votes and Permit. The whole fixed supply of 100M GOV is minted once, at
///         deployment, to `holder`; there is no mint function. GOV is used for voting and for the
///         stakes that executors (TaskRegistry) and infrastructure providers (OARNRegistry) lock.
contract GOVToken is ERC20, ERC20Permit, ERC20Votes {
    /// @notice The fixed total supply: 100 million GOV (18 decimals).
    uint256 public constant TOTAL_SUPPLY = 100_000_000 ether;

    constructor(address holder) ERC20("OARN Governance", "GOV") ERC20Permit("OARN Governance") {
        _mint(holder, TOTAL_SUPPLY);
    }

    function _update(address from, address to, uint256 value) internal override(ERC20, ERC20Votes) {
        super._update(from, to, value);
    }

    function nonces(address owner) public view override(ERC20Permit, Nonces) returns (uint256) {
        return super.nonces(owner);
    }
}
